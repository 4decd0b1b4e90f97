//! `clodo channels add|list|rm|enable` (a project's notification channels and monitoring
//! markers on the control plane) and `clodo deliveries [--channel C] [show ID | replay ID]`
//! (the delivery log). Secrets (webhook URLs, API keys) are read from the environment with
//! `--url-env` / `--api-key-env` so they stay out of shell history, and never printed.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;

use super::client::{self, enc, Failure};
use crate::api::contract::notify::{
    Channel, ChannelCreated, ChannelKind, Delivery, DeliveryDetail, DeliveryPage, DeliveryState,
    EventType, NewChannel,
};
use crate::api::contract::teams::Items;

#[derive(Debug, Args)]
pub struct ChannelsArgs {
    #[command(subcommand)]
    pub action: ChannelsAction,
}

/// What `clodo channels add` takes; which flags a kind uses is in docs/notifications.md.
#[derive(Debug, Args)]
pub struct AddChannel {
    /// The project (slug); default: `project` of ./clodo.toml.
    #[arg(long)]
    pub project: Option<String>,
    /// Only this environment's events (default: every environment of the project).
    #[arg(long, short = 'e')]
    pub env: Option<String>,
    #[arg(long, value_enum)]
    pub kind: ChannelKind,
    /// Unique within the project.
    #[arg(long)]
    pub name: String,
    /// Comma-separated event types (`deployment.succeeded,deployment.failed`); default: the
    /// kind's defaults.
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,
    /// slack, discord, webhook: the URL to POST to.
    #[arg(long, conflicts_with = "url_env")]
    pub url: Option<String>,
    /// Read the URL from this environment variable (keeps it out of shell history).
    #[arg(long)]
    pub url_env: Option<String>,
    /// webhook: the `whsec_…` signing secret (default: generated and printed once).
    #[arg(long)]
    pub signing_secret: Option<String>,
    /// email, sentry, datadog, newrelic: read the API key or token from this environment
    /// variable.
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// email, sentry, datadog, newrelic: the API's base URL (default: the public service).
    #[arg(long)]
    pub base_url: Option<String>,
    /// email: the sender.
    #[arg(long)]
    pub from: Option<String>,
    /// email: the recipients (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub to: Vec<String>,
    /// sentry: the organization slug.
    #[arg(long)]
    pub org: Option<String>,
    /// sentry: the Sentry project slugs (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub sentry_projects: Vec<String>,
    /// newrelic: the entity GUID of the application.
    #[arg(long)]
    pub entity_guid: Option<String>,
    /// webhook: a file holding the payload template (docs/notifications.md).
    #[arg(long)]
    pub template: Option<std::path::PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ChannelsAction {
    /// Add a channel (Slack, Discord, email, webhook) or monitoring marker (Sentry, Datadog,
    /// New Relic) to a project.
    Add(Box<AddChannel>),
    /// The team's channels (never their secrets).
    List {
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delete a channel; its pending deliveries are cancelled.
    Rm {
        /// The channel (`chn_…`).
        id: String,
        /// Print `{"deleted": ID}`.
        #[arg(long)]
        json: bool,
    },
    /// Enable a channel again after its endpoint answered 410 Gone.
    Enable {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn from_env(var: &str, what: &str) -> Result<String, Failure> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Failure::Setup(format!("{what}: the environment variable {var} is not set")))
}

fn optional_list<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}

fn new_channel(a: AddChannel) -> Result<(NewChannel, bool), Failure> {
    let events = a
        .events
        .iter()
        .map(|name| {
            EventType::parse(name).ok_or_else(|| {
                let all: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
                Failure::Setup(format!(
                    "--events: unknown event `{name}` (one of: {})",
                    all.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let url = match (&a.url, &a.url_env) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(var)) => Some(from_env(var, "--url-env")?),
        (None, None) => None,
    };
    let api_key = a
        .api_key_env
        .as_deref()
        .map(|var| from_env(var, "--api-key-env"))
        .transpose()?;
    let template = a
        .template
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path)
                .map_err(|e| Failure::Setup(format!("--template {}: {e}", path.display())))
        })
        .transpose()?;
    let project = super::schedule::project_of(a.project)?;
    Ok((
        NewChannel {
            project,
            environment: a.env,
            name: a.name,
            kind: a.kind,
            events: optional_list(events),
            url,
            signing_secret: a.signing_secret,
            api_key,
            base_url: a.base_url,
            from: a.from,
            to: optional_list(a.to),
            org: a.org,
            projects: optional_list(a.sentry_projects),
            entity_guid: a.entity_guid,
            template,
        },
        a.json,
    ))
}

fn show_channel(c: &Channel) -> String {
    let scope = c.environment.as_deref().unwrap_or("*");
    let events: Vec<&str> = c.events.iter().map(|e| e.as_str()).collect();
    let mut line = format!(
        "{}  {}/{scope}  {}  {}  {}  {}",
        c.id,
        c.project,
        c.name,
        c.kind.as_str(),
        c.endpoint,
        events.join(",")
    );
    if !c.enabled {
        line.push_str(&format!(
            "  DISABLED: {}",
            c.disabled_reason.as_deref().unwrap_or("")
        ));
    }
    line
}

/// `clodo channels …`.
pub fn channels(args: ChannelsArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        match args.action {
            ChannelsAction::Add(add) => {
                let (body, json) = new_channel(*add)?;
                let created: ChannelCreated = api
                    .send(Method::POST, "/api/v1/channels", Some(&body))
                    .await?;
                if json {
                    client::print_typed(&created);
                } else {
                    println!("added {}", show_channel(&created.channel));
                    if let Some(secret) = &created.secret {
                        println!("signing secret (shown once; give it to the receiver): {secret}");
                    }
                }
            }
            ChannelsAction::List { project, json } => {
                let path = match &project {
                    Some(p) => format!("/api/v1/channels?project={}", enc(p)),
                    None => "/api/v1/channels".to_owned(),
                };
                let list: Items<Channel> = api.get(&path).await?;
                if json {
                    client::print_typed(&list);
                } else if list.items.is_empty() {
                    println!("no channels (add one: clodo channels add --kind slack --name ops --url-env SLACK_WEBHOOK_URL)");
                } else {
                    for c in &list.items {
                        println!("{}", show_channel(c));
                    }
                }
            }
            ChannelsAction::Rm { id, json } => {
                api.raw(
                    Method::DELETE,
                    &format!("/api/v1/channels/{}", enc(&id)),
                    None,
                )
                .await?;
                client::print_done(json, "deleted", &id, &format!("deleted {id}"));
            }
            ChannelsAction::Enable { id, json } => {
                let channel: Channel = api
                    .send::<(), _>(
                        Method::POST,
                        &format!("/api/v1/channels/{}/enable", enc(&id)),
                        None,
                    )
                    .await?;
                if json {
                    client::print_typed(&channel);
                } else {
                    println!("enabled {}", show_channel(&channel));
                }
            }
        }
        Ok(())
    })
}

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    #[command(subcommand)]
    pub action: Option<DeliveriesAction>,
    /// Only this channel's deliveries.
    #[arg(long)]
    pub channel: Option<String>,
    /// Only deliveries in this state.
    #[arg(long, value_enum)]
    pub state: Option<DeliveryState>,
    /// How many (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesAction {
    /// One delivery and its attempts.
    Show { id: String },
    /// Send a finished delivery again (same id and webhook-id).
    Replay { id: String },
}

fn show_delivery(d: &Delivery) -> String {
    let mut line = format!(
        "{}  {}  {}  {}  attempts {}",
        d.id,
        d.event_type.as_deref().unwrap_or(&d.kind),
        d.channel_id.as_deref().unwrap_or("-"),
        d.state.as_str(),
        d.attempts
    );
    if let Some(status) = d.last_status {
        line.push_str(&format!("  last {status}"));
    }
    if let Some(err) = &d.last_error {
        line.push_str(&format!("  ({err})"));
    }
    if d.state == DeliveryState::Pending {
        line.push_str(&format!("  next {}", client::time(d.next_attempt_at)));
    }
    line
}

/// `clodo deliveries …`.
pub fn deliveries(args: DeliveriesArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        match args.action {
            None => {
                let mut path = format!("/api/v1/deliveries?limit={}", args.limit);
                if let Some(c) = &args.channel {
                    path.push_str(&format!("&channel={}", enc(c)));
                }
                if let Some(s) = args.state {
                    path.push_str(&format!("&state={}", s.as_str()));
                }
                let page: DeliveryPage = api.get(&path).await?;
                if args.json {
                    client::print_typed(&page);
                } else {
                    for d in &page.items {
                        println!("{}", show_delivery(d));
                    }
                }
            }
            Some(DeliveriesAction::Show { id }) => {
                let detail: DeliveryDetail =
                    api.get(&format!("/api/v1/deliveries/{}", enc(&id))).await?;
                if args.json {
                    client::print_typed(&detail);
                } else {
                    println!("{}", show_delivery(&detail.delivery));
                    for a in &detail.attempts {
                        println!(
                            "  #{} {} {} {} {}",
                            a.attempt,
                            client::time(Some(a.at)),
                            a.status.map_or("-".to_owned(), |s| s.to_string()),
                            a.outcome,
                            a.detail.as_deref().unwrap_or("")
                        );
                    }
                }
            }
            Some(DeliveriesAction::Replay { id }) => {
                let d: Delivery = api
                    .send::<(), _>(
                        Method::POST,
                        &format!("/api/v1/deliveries/{}/replay", enc(&id)),
                        None,
                    )
                    .await?;
                if args.json {
                    client::print_typed(&d);
                } else {
                    println!("queued again: {}", show_delivery(&d));
                }
            }
        }
        Ok(())
    })
}
