-- GitHub, the rest of issues 14 and 15.
--
-- The pull request comment is re-rendered when a preview of its head branch is recorded
-- (`clodo deploy --preview`), not only when a delivery assesses a commit: it keeps the head
-- branch and the assessment part it last showed, and the previews part is read from the
-- `previews` table each time.
ALTER TABLE github_pr_comments ADD COLUMN head_branch TEXT;
ALTER TABLE github_pr_comments ADD COLUMN assessment_body TEXT;
CREATE INDEX github_pr_comments_by_branch ON github_pr_comments (project_id, head_branch);
