"""docs/security.md stays true to the code: the rules it lists and the files it says are never
captured are the ones the code has."""

from __future__ import annotations

from pathlib import Path

from prtrace_core.redact import RULES
from prtrace_daemon.withheld import DEFAULT_WITHHELD

DOC = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
# provider rules are listed by vendor in one row; the rest by name
VENDOR = {
    "github_token": "GitHub", "gitlab_token": "GitLab", "slack_token": "Slack", "stripe_key": "Stripe",
    "google_api_key": "Google", "google_oauth": "Google", "anthropic_key": "Anthropic", "openai_key": "OpenAI",
    "aws_access_key": "AWS", "aws_secret_key": "AWS", "npm_token": "npm", "pypi_token": "PyPI", "huggingface_token": "Hugging Face",
    "sendgrid_key": "SendGrid", "docker_token": "Docker", "prtrace_token": "prtrace", "jwt": "JWT",
    "twilio_key": "Twilio", "mailgun_key": "Mailgun", "shopify_token": "Shopify", "square_token": "Square",
    "digitalocean_token": "DigitalOcean", "linear_key": "Linear", "notion_token": "Notion",
    "atlassian_token": "Atlassian", "databricks_token": "Databricks", "vault_token": "Vault",
    "pulumi_token": "Pulumi", "terraform_token": "Terraform", "postman_key": "Postman", "newrelic_key": "New Relic",
    "sentry_token": "Sentry", "grafana_token": "Grafana", "age_key": "age", "tailscale_key": "Tailscale",
    "onepassword_token": "1Password", "mapbox_token": "Mapbox", "azure_client_secret": "Azure AD",
    "supabase_token": "Supabase", "fly_token": "Fly", "doppler_token": "Doppler", "heroku_key": "Heroku",
    "telegram_token": "Telegram", "alibaba_key": "Alibaba", "slack_webhook": "Slack and Discord webhooks",
    "discord_webhook": "Slack and Discord webhooks",
}


def test_every_rule_is_documented() -> None:
    for rule in RULES:
        assert f"`{rule.name}`" in DOC or VENDOR.get(rule.name, "\0") in DOC, rule.name


def test_the_never_captured_list_is_the_codes() -> None:
    for pattern in DEFAULT_WITHHELD:
        assert f"`{pattern}`" in DOC, pattern
