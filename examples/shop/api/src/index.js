// The shop API: carts live in a `Cart` Durable Object per cart id, orders in D1, and each new
// order is queued for the `jobs` Worker. Routes:
//   GET  /healthz                 liveness for clodo's health checks
//   GET  /version                 which Worker version answered (useful with version overrides)
//   GET  /carts/:id               the cart's items
//   POST /carts/:id/items         add {"sku", "quantity", "price_cents"}
//   POST /carts/:id/checkout      turn the cart into an order
//   GET  /orders/:id              an order
import { DurableObject } from "cloudflare:workers";

export class Cart extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    // SQLite-backed storage (the class is created by a `new_sqlite_classes` migration).
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS items (sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL, price_cents INTEGER NOT NULL)",
    );
  }

  items() {
    return this.ctx.storage.sql.exec("SELECT sku, quantity, price_cents FROM items ORDER BY sku").toArray();
  }

  add(sku, quantity, priceCents) {
    this.ctx.storage.sql.exec(
      "INSERT INTO items (sku, quantity, price_cents) VALUES (?, ?, ?) ON CONFLICT(sku) DO UPDATE SET quantity = quantity + excluded.quantity",
      sku,
      quantity,
      priceCents,
    );
    return this.items();
  }

  clear() {
    this.ctx.storage.sql.exec("DELETE FROM items");
  }
}

function json(body, status = 200) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function cart(env, id) {
  return env.CART.get(env.CART.idFromName(id));
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const parts = url.pathname.split("/").filter(Boolean);

    if (url.pathname === "/healthz") {
      return new Response("ok");
    }
    if (url.pathname === "/version") {
      return json({ environment: env.ENVIRONMENT ?? "unknown" });
    }
    if (parts[0] === "carts" && parts[1]) {
      const stub = cart(env, parts[1]);
      if (request.method === "GET" && parts.length === 2) {
        return json({ cart: parts[1], items: await stub.items() });
      }
      if (request.method === "POST" && parts[2] === "items") {
        const { sku, quantity = 1, price_cents } = await request.json();
        if (typeof sku !== "string" || !Number.isInteger(price_cents)) {
          return json({ error: "sku (string) and price_cents (integer) are required" }, 400);
        }
        return json({ cart: parts[1], items: await stub.add(sku, quantity, price_cents) });
      }
      if (request.method === "POST" && parts[2] === "checkout") {
        const items = await stub.items();
        if (items.length === 0) {
          return json({ error: "the cart is empty" }, 409);
        }
        const total = items.reduce((sum, i) => sum + i.quantity * i.price_cents, 0);
        const id = crypto.randomUUID();
        await env.DB.prepare("INSERT INTO orders (id, cart_id, total_cents) VALUES (?, ?, ?)")
          .bind(id, parts[1], total)
          .run();
        await env.ORDERS.send({ order_id: id, total_cents: total });
        await stub.clear();
        return json({ order: id, total_cents: total, status: "placed" }, 201);
      }
    }
    if (request.method === "GET" && parts[0] === "orders" && parts[1]) {
      const order = await env.DB.prepare("SELECT * FROM orders WHERE id = ?").bind(parts[1]).first();
      return order ? json(order) : json({ error: "no such order" }, 404);
    }
    return json({ error: "not found" }, 404);
  },
};
