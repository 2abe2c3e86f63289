"""Redaction rules, one by one: what each takes, what it leaves, and that none stalls.

The labelled corpus (tests/fixtures/secrets_corpus.py) measures the whole rule set; these
cases pin each rule down so a change to one shows where it broke."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prtrace_core.redact import RULES, BadPattern, Redactor, check_patterns
from prtrace_core.secret_values import base62_crc32, entropy, github_checksum_ok, secret_name
from tests.fixtures.adversarial import ADVERSARIAL, every_rule, repeated

GH_BODY = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1"
GH_TOKEN = f"ghp_{GH_BODY}{base62_crc32(GH_BODY)}"

# rule → (texts with the secret marked by ⟦…⟧, texts that must come through unchanged)
CASES: dict[str, tuple[list[str], list[str]]] = {
    "private_key": (
        ["⟦-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----⟧\n",
         "⟦-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF8x\n-----END PGP PRIVATE KEY BLOCK-----⟧",
         "+⟦-----BEGIN EC PRIVATE KEY-----\n+MHcCAQEEIB\n⟧",  # cut off: to the end
         "⟦Private-Lines: 2\nAAAA\nBBBB\nPrivate-MAC: 5e2f9a⟧"],
        ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN PUBLIC KEY-----"],
    ),
    "github_token": (
        [f"export GH=⟦{GH_TOKEN}⟧",
         "push with ⟦github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab⟧ now"],
        ["ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "docs say ghp_<your token>", "the ghp_ prefix"],
    ),
    "gitlab_token": (["PRIVATE-TOKEN ⟦glpat-Xy9kLm2Np4Qr6St8Uv0w⟧"], ["glpat-"]),
    "slack_token": (["⟦xoxb-2048-4096-Ab3Cd5Ef7Gh9⟧"], ["xoxb-"]),
    "openai_key": (["OPENAI=⟦sk-proj-Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9⟧"], ["pip install sk-learn-extension-toolkit-helpers"]),
    "anthropic_key": (["⟦sk-ant-api03-Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3⟧"], []),
    "aws_access_key": (["id=⟦AKIAIOSFODNN7EXAMPLE⟧ region"], ["AKIA is the prefix", "AKIAIOSFODNN7EXAMPLEXX"]),
    "aws_secret_key": (["Access key ID,Secret access key\nAKIAJQ2CZB6HVF4TXNMA,⟦dtXpvPAq6Jo0W3v9BXpjX+WvuaKzRNQaTHUAMfrx⟧"],
                       []),
    "npm_token": (["//registry.npmjs.org/:_authToken=⟦npm_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5⟧"], []),
    "pypi_token": (["-p ⟦pypi-AgEIcHlwaS5vcmcCJDU0ZjM2YmQ4LTk5YjYtNDU4Ni04NTNlLTI3ZTk3OGRkMDkwZQ⟧"], []),
    "huggingface_token": (["HF=⟦hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567⟧"], ["from hf_hub import download"]),
    "sendgrid_key": (["⟦SG.Ab3Cd5Ef7Gh9Ij1Kl3Mn5O.Pq7Rs9Tu1Vw3Xy5Za7Bc9De1Fg3Hi5Jk7Lm9No1Pq3Rs⟧"], ["SG.gov"]),
    "docker_token": (["⟦dckr_pat_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9⟧"], []),
    "prtrace_token": (["⟦prt_0123456789ab_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5⟧"], []),
    "jwt": (["⟦eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U⟧"], []),
    "cookie": (["curl -H 'cookie: sessionid=⟦riVwaWHpkAC1o8Fj8sNuvWXoaBmBaV35kytn0Cdq⟧'",
                "< Set-Cookie: session=⟦Q6ofhXuA0hzkuSnLyG82357WXCmJ7HlNBy7qUR3e⟧; Path=/; HttpOnly"],
               ["Set-Cookie: theme=dark; Path=/", "cookie: lang=en"]),
    "netrc": (["machine github.com login octo password ⟦hPV8CG1E7^*UCXST⟧"], ["the machine learning password policy"]),
    "sql_password": (["CREATE USER 'app'@'%' IDENTIFIED BY '⟦rLI6f^4JTs_6csek⟧';",
                      "ALTER ROLE app WITH PASSWORD '⟦s3cr3t-pw⟧';", "SET PASSWORD FOR 'bob'@'%' = PASSWORD('⟦l4GU.NUOi⟧');"],
                     ["SELECT password_hash FROM users"]),
    "url_password": (
        ["postgresql://app:⟦S3cr3t!⟧@db:5432/app", "redis://:⟦hunter22⟧@cache:6379/0",
         "git clone https://x-access-token:⟦abc123def456⟧@github.com/o/r.git"],
        ["postgresql://localhost:5432/db", "https://github.com/org/repo.git", "redis://:${REDIS_PASSWORD}@cache"],
    ),
    "url_token": (["https://⟦a1b2c3d4e5f6a7b8c9d0e1f2⟧@o123.ingest.sentry.io/42"], ["ssh://git@github.com/o/r"]),
    "http_auth": (
        ['curl -H "Authorization: Basic ⟦dXNlcjpwYXNzd29yZA==⟧" https://api', "Authorization: token ⟦0123abcdef⟧",
         "Proxy-Authorization: Digest ⟦username=me, response=6629fae49393a05397450978507c4ef1⟧"],
        ['-H "Authorization: Bearer ${TOKEN}"', "Authorization: Bearer <token>"],
    ),
    "bearer": (["use Bearer ⟦Ab3Cd5Ef7Gh9Ij1Kl3⟧ here"], ['token_type="bearer"', "a bearer token"]),
    "assignment": (
        ["DB_PASSWORD=⟦postgres⟧", 'PASSPHRASE="⟦correct horse battery staple⟧"', "ENCRYPTION_KEY=⟦c2VjcmV0a2V5⟧",
         '{"password": "⟦hunter2⟧"}', "AccountName=a;AccountKey=⟦Zm9vYmFyYmF6cXV4==⟧;EndpointSuffix=x",
         "password: ⟦Tr0ub4dor&3⟧", "?access_token=⟦abc123xyz⟧&page=2", "client_secret = '⟦s3cr3t⟧'"],
        ["token = next(tokens)", 'secret_key = os.environ["SECRET_KEY"]', "api_key: str | None = None",
         'TOKEN_URL = "https://auth.example.com/oauth/token"', "self.token = token", 'token_type="bearer"',
         "password_hash = hash_password(password)", "PASSWORD_MIN_LENGTH = 12", "const apiKey = process.env.API_KEY;",
         "password: ${{ secrets.DB_PASSWORD }}", "export GITHUB_TOKEN=$(gh auth token)", 'secret = config["secret"]',
         "sort_key = name", 'password = ""', "connect(password=password)", "password = getpass.getpass()"],
    ),
    "cli_flag": (
        ["mysql --password=⟦S3cret⟧ db", "vault --token ⟦s.Ab3Cd5Ef7⟧ read", "wget --http-password '⟦p w d⟧' x",
         "java -Djavax.net.ssl.keyStorePassword=⟦changeit9⟧ -jar app.jar"],
        ["docker login --password-stdin", "gh auth login --with-token < token.txt", "tool --token-file ~/.tok",
         "mysql --password -u me", "cli --token $TOKEN"],
    ),
    "cli_credentials": (
        ["mysql -u root -p⟦S3cr3tPass!⟧ app", "curl -u admin:⟦Sup3rS3cret⟧ https://x", "redis-cli -a ⟦Sup3rPass⟧ ping",
         "docker login -u me -p ⟦S3cretPw⟧ registry.io", "sshpass -p '⟦my pass 123⟧' ssh host",
         "aws configure set aws_secret_access_key ⟦wJalrXUtnFEMI/K7MDENG⟧", "smbclient -U me%⟦pa55word⟧ //h/s",
         "npm config set _auth ⟦dXNlcjpwYXNz⟧", "openssl enc -pass pass:⟦hunter22⟧ -in f",
         "keytool -list -storepass ⟦store123⟧", "gh secret set API --body ⟦v4lue99⟧"],
        ["mysql -u root -p app", "docker run -p 8080:80 nginx", "curl -u admin https://x", "gh pr create -b body",
         "aws configure set region us-east-1", "ssh -p 2222 host"],
    ),
    "piped_secret": (
        ["echo ⟦S3cr3tPw⟧ | docker login -u me --password-stdin", "echo '⟦Abc123xyz⟧' | gh auth login --with-token",
         "printf ⟦root:Pa55w0rd⟧ | chpasswd"],
        ["echo hi | docker login --password-stdin", "echo $TOKEN | docker login --password-stdin", "echo done | wc"],
    ),
    "prose": (
        ["the staging db password is ⟦Tr0ub4dor&3⟧", "pw: ⟦Hunter22⟧", "api key: ⟦8f9c2b7e1d4a6f3c9b2e8d7a1c4f6e3b⟧",
         "password for the vpn is now ⟦Xk9#mLp2⟧"],
        ["the token is invalid", "password reset in v2.3.1", "the key is in the vault", "test_token_refresh passed",
         "tokenizer and secretary", "key: sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"],
    ),
}

# Kept by every rule: ids and digests, code and prose about secrets.
KEPT = [
    "commit 3f2b1c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b", "id 123e4567-e89b-12d3-a456-426614174000",
    "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "src/auth/token_store.py",
    "integrity sha512-Q2hhbmdlIHRoZSBwYXNzd29yZA==", "see passwords.md", "https://example.com/oauth/token?scope=read",
]


def _split(marked: str) -> tuple[str, list[str]]:
    """The text without the ⟦⟧ marks, and the secrets they enclosed."""
    secrets = []
    text = marked
    while "⟦" in text:
        head, _, rest = text.partition("⟦")
        secret, _, tail = rest.partition("⟧")
        secrets.append(secret)
        text = head + secret + tail
    return text, secrets


def _cases(kind: int) -> list[tuple[str, str]]:
    return [(rule, text) for rule, both in CASES.items() for text in both[kind]]


def test_every_rule_has_cases_and_an_adversarial_input() -> None:
    names = {rule.name for rule in RULES}
    providers_covered_by_corpus = {
        "google_api_key", "google_oauth", "stripe_key", "mailgun_key", "shopify_token", "square_token",
        "digitalocean_token", "linear_key", "notion_token", "atlassian_token", "databricks_token", "vault_token",
        "pulumi_token", "terraform_token", "postman_key", "newrelic_key", "sentry_token", "grafana_token", "age_key",
        "tailscale_key", "onepassword_token", "mapbox_token", "azure_client_secret", "supabase_token", "fly_token",
        "doppler_token", "heroku_key", "telegram_token", "alibaba_key", "slack_webhook", "discord_webhook",
        "twilio_key",
    }
    assert names - set(CASES) <= providers_covered_by_corpus
    assert {"private_key", "assignment", "cli_flag", "cli_credentials", "prose", "http_auth"} <= set(ADVERSARIAL)


@pytest.mark.parametrize(("rule", "marked"), _cases(0), ids=lambda v: v if len(v) < 30 else v[:30])
def test_rule_takes_the_secret_and_keeps_the_context(rule: str, marked: str) -> None:
    text, secrets = _split(marked)
    out = Redactor().text(text)
    for secret in secrets:
        assert secret not in out, out
    assert "[REDACTED:" in out
    before = text.split(secrets[0])[0].split()
    assert not before or before[0] in out  # the context stays readable


@pytest.mark.parametrize(("rule", "text"), _cases(1) + [("any", t) for t in KEPT],
                         ids=lambda v: v if len(v) < 30 else v[:30])
def test_look_alike_comes_through_unchanged(rule: str, text: str) -> None:
    assert Redactor().text(text) == text


def test_github_checksum_is_crc32_in_base62() -> None:
    assert github_checksum_ok(GH_TOKEN)
    assert not github_checksum_ok(GH_TOKEN[:-1] + ("A" if GH_TOKEN[-1] != "A" else "B"))
    # a token that fails the checksum is still taken when it reads as random
    assert "[REDACTED:github_token]" in Redactor().text("ghp_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5")


def test_names_mark_secrets_by_their_words() -> None:
    assert secret_name("DB_PASSWORD") and secret_name("apiKey") and secret_name("_authToken")
    assert secret_name("SharedAccessKey") and secret_name("ENCRYPTION_KEY", env_style=True)
    assert not secret_name("token_url") and not secret_name("password_hash") and not secret_name("sort_key")
    assert not secret_name("PASSWORD_MIN_LENGTH") and not secret_name("tokenizer")


def test_entropy_separates_generated_from_typed() -> None:
    assert entropy("aaaaaaaa") == 0
    assert entropy("8f9c2b7e1d4a6f3c9b2e8d7a1c4f6e3b") > 3.5 > entropy("passwordpassword")


def test_redacting_twice_changes_nothing() -> None:
    redactor = Redactor()
    for rule, marked in _cases(0):
        once = redactor.text(_split(marked)[0])
        assert redactor.text(once) == once, rule


def test_payloads_are_redacted_through_and_keys_kept() -> None:
    payload = {"command": "mysql -pS3cr3t!", "env": {"password": "x"}, "n": 3, "nested": [{"t": GH_TOKEN}]}
    out = Redactor().value(payload)
    assert out["command"] == "mysql -p[REDACTED:cli_credentials]"
    assert out["nested"][0]["t"] == "[REDACTED:github_token]" and out["n"] == 3 and "password" in out["env"]


@pytest.mark.parametrize(("rule", "unit"), sorted(every_rule().items()))
def test_adversarial_input_is_redacted_in_one_pass(rule: str, unit: str) -> None:
    """64 KiB of each hand-written unit, 16 KiB of each other keyword (timings of a mebibyte:
    `scripts/bench redact`)."""
    text = repeated(unit, (64 if rule in ADVERSARIAL else 16) * 1024)
    redactor = Redactor()
    once = redactor.text(text)
    assert redactor.text(once) == once


# ---- user patterns -----------------------------------------------------------------------------

def test_user_pattern_redacts_its_secret_group() -> None:
    out = Redactor([r"corp-(?P<secret>[0-9]{6})"]).text("badge corp-123456 ok")
    assert out == "badge corp-[REDACTED:custom1] ok"


def test_invalid_user_pattern_is_refused_with_its_place() -> None:
    with pytest.raises(BadPattern, match=r"redact_patterns\[1\].*not a valid pattern"):
        check_patterns([r"ok", r"(unclosed"])


def test_catastrophic_user_pattern_is_refused() -> None:
    with pytest.raises(BadPattern, match="too slow"):
        check_patterns([r"a.*a.*a.*b"])


def test_user_pattern_that_stalls_on_real_text_withholds_that_text() -> None:
    # passes the probes (no x in them), stalls on a long run of x
    redactor = Redactor([r"x.*x.*x.*y"])
    assert redactor.text("x" * 20_000) == "[REDACTED:custom1-timeout]"
    assert redactor.text("fine") == "fine"


def test_capture_leaves_a_refused_pattern_out() -> None:
    redactor = Redactor([r"(bad", r"corp-[0-9]{6}"], skip_invalid=True)
    assert len(redactor.refused) == 1
    assert redactor.text("corp-123456") == "[REDACTED:custom2]"


# ---- properties ----------------------------------------------------------------------------------

CONTEXT_FREE = [
    GH_TOKEN, "glpat-Xy9kLm2Np4Qr6St8Uv0w", "AKIAIOSFODNN7EXAMPLE", "sk-proj-Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9",
    "npm_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
    "dckr_pat_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9", "prt_0123456789ab_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5",
    "xoxb-2048-4096-Ab3Cd5Ef7Gh9", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
    "SG.Ab3Cd5Ef7Gh9Ij1Kl3Mn5O.Pq7Rs9Tu1Vw3Xy5Za7Bc9De1Fg3Hi5Jk7Lm9No1Pq3Rs",
]
IN_CONTEXT = [  # (the phrase, the secret in it)
    ("postgresql://app:S3cr3tPw@db/app", "S3cr3tPw"), ("DB_PASSWORD=Tr0ub4dor&3", "Tr0ub4dor&3"),
    ("mysql -u root -pS3cr3tPass! app", "S3cr3tPass!"), ("curl -u admin:Sup3rS3cret https://x", "Sup3rS3cret"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
]
_filler = st.text(alphabet=string.printable, max_size=200)
_edge = st.sampled_from([" ", "\n", "\t", "'", '"', "(", ",", ";", "|", "> ", "\n+", "\n-", " --token=", "\r\n"])


@settings(max_examples=150, deadline=None)
@given(before=_filler, left=_edge, secret=st.sampled_from(CONTEXT_FREE), right=_edge, after=_filler)
def test_a_token_is_redacted_whatever_surrounds_it(before: str, left: str, secret: str, right: str, after: str) -> None:
    assert secret not in Redactor().text(before + left + secret + right + after)


@settings(max_examples=150, deadline=None)
@given(before=_filler, phrase=st.sampled_from(IN_CONTEXT), after=_filler)
def test_a_secret_in_its_context_is_redacted_whatever_surrounds_it(
    before: str, phrase: tuple[str, str], after: str
) -> None:
    text, secret = phrase
    assert secret not in Redactor().text(before + "\n" + text + "\n" + after)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_redaction_is_idempotent_on_any_text(text: str) -> None:
    redactor = Redactor()
    once = redactor.text(text)
    assert redactor.text(once) == once


def test_a_text_dense_with_secrets_is_withheld_whole() -> None:
    """Past MAX_SECRETS a text is a dump or built to be slow: bounded time, nothing through."""
    from prtrace_core.redact import MAX_SECRETS

    dump = "".join(f"USER{i}_PASSWORD=Xy7kP9q{i:05d}\n" for i in range(MAX_SECRETS + 10))
    assert Redactor().text(dump) == "[REDACTED:dense]"
