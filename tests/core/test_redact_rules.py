"""Each built-in redaction rule, by its id: one text it must catch and one near miss it must
leave alone. The cases are checked against the rule table, so a rule added without its two
cases fails here (and a case whose rule went away does too)."""

from __future__ import annotations

import random
import string

import pytest

from prtrace_core.redact import Redactor
from prtrace_core.secret_rules import RULES, Rule

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
UPPER = string.ascii_uppercase


def _r(seed: str, n: int, alphabet: str = ALNUM) -> str:
    """`n` characters of `alphabet`, the same on every run."""
    rng = random.Random(f"redact-rules:{seed}")
    return "".join(rng.choice(alphabet) for _ in range(n))


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0." + _r("jwt", 43, ALNUM + "-_")
PEM_BODY = "\n".join(_r(f"pem{i}", 64, ALNUM + "+/") for i in range(4))
PASSWORD = "Tr0ub4dor-Zq9x"

# rule id -> (a text the rule catches, the secret in it, a near miss the rule leaves alone)
CASES: dict[str, tuple[str, str, str]] = {
    "private_key": (
        f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n",
        PEM_BODY,
        "the private key lives in the vault, never in the repo",
    ),
    "github_token": (
        f"export GH_TOKEN={(t := 'ghp_' + _r('gh', 36))}",
        t,
        "ghp_" + "x" * 36,
    ),
    "gitlab_token": (f"glpat-{(t := _r('gl', 20))}", f"glpat-{t}", "glpat-xxxxxxxxxxxxxxxxxxxx"),
    "slack_token": (f"xoxb-{(t := _r('slack', 24))}", f"xoxb-{t}", "xoxb-your-token-here"),
    "stripe_key": (
        f"sk_live_{(t := _r('stripe', 24))}",
        f"sk_live_{t}",
        "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
    ),
    "google_api_key": (
        f"AIza{(t := _r('gapi', 35, ALNUM + '-_'))}",
        f"AIza{t}",
        f"AIza{_r('gapi', 34)}",
    ),
    "google_oauth": (
        f"GOCSPX-{(t := _r('goauth', 28))}",
        f"GOCSPX-{t}",
        f"GOCSPX-{_r('goauth', 10)}",
    ),
    "anthropic_key": (
        f"sk-ant-api03-{(t := _r('ant', 40, ALNUM + '-_'))}",
        f"sk-ant-api03-{t}",
        "sk-ant-api03-short",
    ),
    "openai_key": (
        f"sk-proj-{(t := _r('oai', 40))}",
        f"sk-proj-{t}",
        "sk-proj-your-openai-api-key-goes-here",
    ),
    "aws_access_key": (
        f"aws_access_key_id = AKIA{(t := _r('akia', 16, UPPER + '234567'))}",
        f"AKIA{t}",
        "AKIAEXAMPLE",
    ),
    "npm_token": (
        f"//registry.npmjs.org/:_authToken=npm_{(t := _r('npm', 36))}",
        f"npm_{t}",
        "npm_" + "x" * 36,
    ),
    "pypi_token": (
        f"pypi-AgE{(t := _r('pypi', 80, ALNUM + '-_'))}",
        f"pypi-AgE{t}",
        "pypi-AgEshort",
    ),
    "huggingface_token": (
        f"hf_{(t := _r('hf', 34))}",
        f"hf_{t}",
        "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ),
    "sendgrid_key": (
        f"SG.{(a := _r('sg1', 22))}.{(b := _r('sg2', 43))}",
        f"SG.{a}.{b}",
        "SG.short.short",
    ),
    "docker_token": (f"dckr_pat_{(t := _r('dckr', 27))}", f"dckr_pat_{t}", "dckr_pat_short"),
    "prtrace_token": (
        f"prt_{(a := _r('prt1', 12, HEX))}_{(b := _r('prt2', 40))}",
        f"prt_{a}_{b}",
        "prt_000000000000_nope",
    ),
    "jwt": (
        f"Authorization-less: {JWT}",
        JWT,
        "eyJhbGciOiJIUzI1NiJ9 alone is a header, not a token",
    ),
    "twilio_key": (f"SK{(t := _r('tw', 32, HEX))}", f"SK{t}", f"SK{_r('tw', 31, HEX)}"),
    "mailgun_key": (f"key-{(t := _r('mg', 32, HEX))}", f"key-{t}", f"key-{_r('mg', 20, HEX)}"),
    "shopify_token": (f"shpat_{(t := _r('shop', 32, HEX))}", f"shpat_{t}", "shpat_nothex_nothex"),
    "square_token": (f"sq0atp-{(t := _r('sq', 22))}", f"sq0atp-{t}", "sq0atp-short"),
    "digitalocean_token": (
        f"dop_v1_{(t := _r('do', 64, HEX))}",
        f"dop_v1_{t}",
        f"dop_v1_{_r('do', 20, HEX)}",
    ),
    "linear_key": (f"lin_api_{(t := _r('lin', 40))}", f"lin_api_{t}", "lin_api_short"),
    "notion_token": (f"ntn_{(t := _r('ntn', 46))}", f"ntn_{t}", "ntn_short"),
    "atlassian_token": (
        f"ATATT3{(t := _r('atl', 180, ALNUM + '_=-'))}",
        f"ATATT3{t}",
        f"ATATT3{_r('atl', 50)}",
    ),
    "databricks_token": (
        f"dapi{(t := _r('dapi', 32, HEX))}",
        f"dapi{t}",
        f"dapi{_r('dapi', 16, HEX)}",
    ),
    "vault_token": (f"VAULT_TOKEN=hvs.{(t := _r('vault', 90))}", f"hvs.{t}", "hvs.short"),
    "pulumi_token": (f"pul-{(t := _r('pul', 40, HEX))}", f"pul-{t}", f"pul-{_r('pul', 20, HEX)}"),
    "terraform_token": (
        f"{(a := _r('tf1', 14))}.atlasv1.{(b := _r('tf2', 67))}",
        f"{a}.atlasv1.{b}",
        "app.atlasv1.short",
    ),
    "postman_key": (
        f"PMAK-{(a := _r('pm1', 24, HEX))}-{(b := _r('pm2', 34, HEX))}",
        f"PMAK-{a}-{b}",
        "PMAK-short-short",
    ),
    "newrelic_key": (
        f"NRAK-{(t := _r('nr', 27, UPPER + string.digits))}",
        f"NRAK-{t}",
        "NRAK-short",
    ),
    "sentry_token": (f"sntrys_{(t := _r('sentry', 120))}", f"sntrys_{t}", "sntrys_short"),
    "grafana_token": (
        f"glsa_{(a := _r('gf1', 32))}_{(b := _r('gf2', 8, HEX))}",
        f"glsa_{a}_{b}",
        "glsa_short_1234",
    ),
    "age_key": (
        f"AGE-SECRET-KEY-1{(t := _r('age', 58, UPPER + string.digits))}",
        f"AGE-SECRET-KEY-1{t}",
        "AGE-SECRET-KEY-1SHORT",
    ),
    "tailscale_key": (f"tskey-auth-{(t := _r('ts', 40))}", f"tskey-auth-{t}", "tskey-short"),
    "onepassword_token": (f"ops_eyJ{(t := _r('ops', 120))}", f"ops_eyJ{t}", "ops_eyJshort"),
    "mapbox_token": (
        f"sk.eyJ{(a := _r('mb1', 60))}.{(b := _r('mb2', 22))}",
        f"sk.eyJ{a}.{b}",
        "sk.eyJshort.short",
    ),
    "azure_client_secret": (
        f"{(a := _r('az1', 3))}8Q~{(b := _r('az2', 34))}",
        f"{a}8Q~{b}",
        f"abc8Q~{_r('az2', 10)}",
    ),
    "supabase_token": (f"sbp_{(t := _r('sbp', 40, HEX))}", f"sbp_{t}", f"sbp_{_r('sbp', 20, HEX)}"),
    "fly_token": (f"fo1_{(t := _r('fly', 43))}", f"fo1_{t}", "fo1_short"),
    "doppler_token": (f"dp.st.{(t := _r('dp', 42))}", f"dp.st.{t}", "dp.st.short"),
    "heroku_key": (f"HRKU-{(t := _r('hrku', 60))}", f"HRKU-{t}", "HRKU-short"),
    "telegram_token": (
        f"TELEGRAM_BOT={(a := '123456789')}:AA{(b := _r('tg', 33))}",
        f"{a}:AA{b}",
        f"123456789:AA{_r('tg', 10)}",
    ),
    "alibaba_key": (f"LTAI{(t := _r('ali', 20))}", f"LTAI{t}", "LTAIxxxxxxxxxxxxxxxx"),
    "slack_webhook": (
        f"https://hooks.slack.com/services/T0001/B0001/{(t := _r('swh', 24))}",
        t,
        "https://hooks.slack.com/services/",
    ),
    "discord_webhook": (
        f"https://discord.com/api/webhooks/123456789012/{(t := _r('dwh', 68, ALNUM + '-_'))}",
        t,
        "https://discord.com/api/webhooks/",
    ),
    "aws_secret_key": (
        f"AKIA{_r('akia2', 16, UPPER + '234567')},{(t := _r('awss', 40, ALNUM + '+/'))}",
        t,
        "AKIAIOSFODNN7EXAMPLE, its secret kept elsewhere",
    ),
    "url_password": (
        f"postgres://app:{PASSWORD}@db.internal:5432/app",
        PASSWORD,
        "postgres://app@db.internal:5432/app",
    ),
    "url_token": (
        f"https://{(t := 'ghp_' + _r('urltok', 36))}@github.com/acme/app.git",
        t,
        "https://git@github.com/acme/app.git",
    ),
    "http_auth": (
        f"curl -H 'Authorization: Basic {(t := _r('basic', 28))}' https://api.example.com",
        t,
        "curl -H 'Authorization: Basic' https://api.example.com",
    ),
    "bearer": (
        f"the header was bearer {(t := _r('bear', 40))} all along",
        t,
        "a bearer of good news",
    ),
    "assignment": (f"DB_PASSWORD={PASSWORD}", PASSWORD, "DB_PASSWORD=os.environ['DB_PASSWORD']"),
    "cookie": (f"Cookie: session={(t := _r('cookie', 40))}", t, "Cookie: theme=dark"),
    "netrc": (
        f"machine api.example.com login dev password {PASSWORD}",
        PASSWORD,
        "machine learning login page",
    ),
    "sql_password": (
        f"CREATE USER app IDENTIFIED BY '{PASSWORD}';",
        PASSWORD,
        "ALTER USER app IDENTIFIED BY",
    ),
    "cli_flag": (f"deploy --password {PASSWORD}", PASSWORD, "deploy --password-file secrets.txt"),
    "cli_credentials": (f"mysql -u root -p{PASSWORD} app", PASSWORD, "mysql -u root -p app"),
    "piped_secret": (
        f"echo '{PASSWORD}' | docker login --password-stdin -u dev",
        PASSWORD,
        'echo "$REGISTRY_TOKEN" | docker login --password-stdin -u dev',
    ),
    "prose": (
        f"note to self: the staging db password is {PASSWORD}",
        PASSWORD,
        "the password is stored in the team's vault",
    ),
}


def _rules(name: str) -> list[Rule]:
    return [rule for rule in RULES if rule.name == name]


def _caught(rules: list[Rule], text: str) -> list[str]:
    return [text[start:end] for rule in rules for start, end in rule.find(text)]


def test_every_rule_has_its_cases_and_every_case_its_rule() -> None:
    assert sorted(CASES) == sorted({rule.name for rule in RULES})


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_rule_catches_its_secret(name: str) -> None:
    text, secret, _ = CASES[name]
    rules = _rules(name)
    assert any(keyword in text.lower() for rule in rules for keyword in rule.keywords)
    assert any(secret in span for span in _caught(rules, text)), _caught(rules, text)
    assert secret not in Redactor().text(text)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_rule_leaves_its_near_miss_alone(name: str) -> None:
    _, _, near_miss = CASES[name]
    rules = _rules(name)
    # the near miss holds the rule's keyword, so the rule really looks at it
    assert any(keyword in near_miss.lower() for rule in rules for keyword in rule.keywords), name
    assert _caught(rules, near_miss) == []
