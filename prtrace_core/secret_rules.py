"""The built-in secret rules: where secrets sit in commands, files, output and prose.

Every rule is linear in its input. Patterns use bounded, possessive quantifiers and start
only where a run of their own alphabet starts (a look-behind on that alphabet, or for
provider tokens `_token_may_start` after the engine's fast scan for the literal prefix), so a
hostile megabyte of `ghp_ghp_…` or `a=a=a=…` costs one pass, not one pass per position. Each
rule names literal keywords; it runs only when one occurs in the text. docs/security.md lists
the families and the measured precision and recall.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prtrace_core.secret_values import (
    github_checksum_ok,
    is_code,
    is_id_or_digest,
    is_placeholder,
    looks_random,
    plausible_password,
    plausible_value,
    secret_name,
)

__all__ = ["RULES", "Rule", "Span"]

Span = tuple[int, int]

# More candidates than this in one text (names of secrets, a client's arguments) means it was
# built to make redaction slow: a rule then withholds the whole text, in bounded time.
MAX_CANDIDATES = 20_000


@dataclass(frozen=True, slots=True)
class Rule:
    """One family of secrets. `find` yields the spans to replace; `keywords` (lowercase
    literals) gate it: without one of them in the text the rule cannot match."""

    name: str
    keywords: tuple[str, ...]
    find: Callable[[str], Iterator[Span]]
    about: str
    needs: tuple[str, ...] = ()  # and one of these too (lowercase literals), when given


def _regex(pattern: str, check: Callable[[re.Match[str]], bool] | None = None,
           group: str = "secret") -> Callable[[str], Iterator[Span]]:
    compiled = re.compile(pattern)

    def find(text: str) -> Iterator[Span]:
        for match in compiled.finditer(text):
            if match.group(group) is not None and (check is None or check(match)):
                yield match.span(group)

    return find


# ---- provider tokens: published prefixes, fixed alphabets and lengths -------------------------

def _random_enough(match: re.Match[str]) -> bool:
    """A prefixed token that is not a documentation stand-in (`ghp_xxxx…`, `sk-…your-key…`)."""
    return looks_random(match.group("secret"), min_len=12, min_entropy=2.5) and not is_placeholder(
        match.group("secret"))


def _github(match: re.Match[str]) -> bool:
    # The checksum makes a real token certain; a well-formed token that fails it is still
    # taken unless it reads as a stand-in.
    token = match.group("secret")
    return (len(token) == 40 and github_checksum_ok(token)) or _random_enough(match)


# A token starts where a run of token characters starts: after a delimiter, or after a `-`
# that follows one (a diff's removed line, `--key=-…`), never inside `tskey-tskey-…`.
_PROVIDERS: tuple[tuple[str, tuple[str, ...], str, Callable[[re.Match[str]], bool] | None], ...] = (
    ("github_token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"gh[pousr]_[A-Za-z0-9]{36,251}+", _github),
    ("github_token", ("github_pat_",), r"github_pat_[A-Za-z0-9_]{40,255}+", _random_enough),
    ("gitlab_token", ("glpat-", "gldt-", "glptt-", "glrt-", "glcbt-", "gloas-", "glft-", "glsoat-", "glimt-"),
     r"gl(?:pat|dt|ptt|rt|cbt|oas|ft|imt|soat|ffct|agent)-[A-Za-z0-9_.-]{20,300}+", _random_enough),
    ("slack_token", ("xox",), r"xox[abposre]-[A-Za-z0-9-]{10,250}+", _random_enough),
    ("slack_token", ("xapp-",), r"xapp-[0-9]-[A-Za-z0-9-]{20,250}+", None),
    ("stripe_key", ("sk_live_", "sk_test_", "rk_live_", "rk_test_"), r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,247}+",
     _random_enough),
    ("stripe_key", ("whsec_",), r"whsec_[A-Za-z0-9+/=]{24,100}+", None),
    ("google_api_key", ("aiza",), r"AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])", None),
    ("google_oauth", ("gocspx-",), r"GOCSPX-[A-Za-z0-9_-]{24,40}+", None),
    ("google_oauth", ("ya29.",), r"ya29\.[A-Za-z0-9_-]{20,2048}+", None),
    ("anthropic_key", ("sk-ant-",), r"sk-ant-[a-z0-9]{2,12}-[A-Za-z0-9_-]{20,300}+", None),
    ("openai_key", ("sk-",), r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,300}+", _random_enough),
    ("aws_access_key", ("akia", "asia", "abia", "acca", "agpa", "aida", "aroa", "aipa", "anpa", "anva", "apka"),
     r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z2-7]{16}(?![A-Za-z0-9])", None),
    ("npm_token", ("npm_",), r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])", _random_enough),
    ("pypi_token", ("pypi-age",), r"pypi-AgE[A-Za-z0-9_-]{50,4000}+", None),
    ("huggingface_token", ("hf_", "api_org_"), r"(?:hf_|api_org_)[A-Za-z0-9]{30,40}(?![A-Za-z0-9_])", _random_enough),
    ("sendgrid_key", ("sg.",), r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64}+", None),
    ("docker_token", ("dckr_",), r"dckr_(?:pat|oat)_[A-Za-z0-9_-]{20,100}+", None),
    ("prtrace_token", ("prt_",), r"prt_[0-9a-f]{12}_[A-Za-z0-9_-]{32,100}+", None),
    ("jwt", ("eyj",), r"eyJ[A-Za-z0-9_-]{8,4096}+\.eyJ[A-Za-z0-9_-]{8,8192}+\.[A-Za-z0-9_-]{0,4096}+", None),
    ("twilio_key", ("sk",), r"SK[0-9a-fA-F]{32}(?![0-9a-zA-Z])", None),
    ("twilio_key", ("sk",),  # the API key's secret, written beside its SID
     r"SK[0-9a-fA-F]{32}[\"']?[ \t]{0,3}+[,:][ \t]{0,3}+[\"']?(?P<secret>[A-Za-z0-9]{32})(?![A-Za-z0-9])", None),
    ("mailgun_key", ("key-",), r"key-[0-9a-f]{32}(?![0-9a-zA-Z])", None),
    ("shopify_token", ("shpat_", "shpss_", "shpca_", "shppa_"), r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}", None),
    ("square_token", ("sq0atp-", "sq0csp-"), r"sq0(?:atp|csp)-[A-Za-z0-9_-]{22,60}+", None),
    ("digitalocean_token", ("dop_v1_", "doo_v1_", "dor_v1_"), r"do[opr]_v1_[a-f0-9]{64}", None),
    ("linear_key", ("lin_api_",), r"lin_api_[A-Za-z0-9]{40}", None),
    ("notion_token", ("secret_", "ntn_"), r"(?:secret_[A-Za-z0-9]{43}|ntn_[A-Za-z0-9]{40,50}+)(?![A-Za-z0-9_])",
     _random_enough),
    ("atlassian_token", ("atatt3",), r"ATATT3[A-Za-z0-9_=-]{100,300}+", None),
    ("databricks_token", ("dapi",), r"dapi[a-f0-9]{32}(?:-[0-9])?(?![A-Za-z0-9])", None),
    ("vault_token", ("hvs.", "hvb.", "hvr."), r"hv[sbr]\.[A-Za-z0-9_-]{24,300}+", None),
    ("vault_token", ("s.",), r"s\.[A-Za-z0-9]{24}", _random_enough),  # before the hvs. prefix
    ("pulumi_token", ("pul-",), r"pul-[a-f0-9]{40}", None),
    ("terraform_token", ("atlasv1",), r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,70}+", None),
    ("postman_key", ("pmak-",), r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}", None),
    ("newrelic_key", ("nrak-",), r"NRAK-[A-Z0-9]{27}", None),
    ("sentry_token", ("sntrys_", "sntryu_"), r"sntry[su]_[A-Za-z0-9+/=_-]{30,400}+", None),
    ("grafana_token", ("glsa_", "glc_"), r"(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/=]{32,400}+)", None),
    ("age_key", ("age-secret-key-1",), r"AGE-SECRET-KEY-1[0-9A-Z]{58}", None),
    ("tailscale_key", ("tskey-",), r"tskey-[A-Za-z0-9-]{20,200}+", None),
    ("onepassword_token", ("ops_eyj",), r"ops_eyJ[A-Za-z0-9+/=_-]{50,4000}+", None),
    ("mapbox_token", ("sk.eyj",), r"sk\.eyJ[A-Za-z0-9_-]{20,400}+\.[A-Za-z0-9_-]{20,400}+", None),
    ("azure_client_secret", ("q~",), r"[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])", None),
    ("supabase_token", ("sbp_",), r"sbp_[a-f0-9]{40}", None),
    ("fly_token", ("fo1_",), r"fo1_[A-Za-z0-9_-]{43}", None),
    ("doppler_token", ("dp.",), r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}", None),
    ("heroku_key", ("hrku-",), r"HRKU-[A-Za-z0-9_-]{60}", None),
    ("telegram_token", (":aa",), r"[0-9]{8,10}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])", None),
    ("alibaba_key", ("ltai",), r"LTAI[A-Za-z0-9]{12,20}(?![A-Za-z0-9])", _random_enough),
    ("slack_webhook", ("hooks.slack.com",),
     r"hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/]{0,40}?/(?P<secret>[A-Za-z0-9]{20,40}+)", None),
    ("discord_webhook", ("discord",),
     r"discord(?:app)?\.com/api/webhooks/[0-9]{5,30}/(?P<secret>[A-Za-z0-9_-]{40,100}+)", None),
)


def _provider_rule(name: str, keywords: tuple[str, ...], body: str,
                   check: Callable[[re.Match[str]], bool] | None) -> Rule:
    if "(?P<secret>" in body:
        return Rule(name, keywords, _regex(body, check), f"{name.replace('_', ' ')} by its published prefix")
    # `(?![A-Za-z0-9])`: a run longer than any real token of the kind is not one (and is left
    # whole, so redacting twice changes nothing). The pattern starts with the literal prefix,
    # which the regex engine scans for quickly; where a token may start is checked here.
    compiled = re.compile(f"(?P<secret>{body})(?![A-Za-z0-9])")
    strict = "-]" in body  # a `-` inside the token: `tskey-tskey-…` must not start a token at each dash

    def find(text: str) -> Iterator[Span]:
        pos = 0
        while (match := compiled.search(text, pos)) is not None:
            start = match.start()
            if _token_may_start(text, start, strict=strict) and (check is None or check(match)):
                yield match.span()
                pos = match.end()
            else:
                pos = start + 1

    return Rule(name, keywords, find, f"{name.replace('_', ' ')} by its published prefix")


_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")
_DELIMITERS = frozenset(" \t\n\r\"'`=:,;([{|<>")
_HEX = frozenset("0123456789abcdefABCDEF")


def _token_may_start(text: str, start: int, *, strict: bool) -> bool:
    """After a delimiter; after `\\n` in JSON or a repr; after `%3D` in a URL; after a `-`
    that follows a delimiter (a diff's removed line), or any `-` for a token without one."""
    if start == 0:
        return True
    before = text[start - 1]
    if before == "-":
        return not strict or start == 1 or text[start - 2] in _DELIMITERS
    if before not in _TOKEN_CHARS:
        return True
    if start >= 2 and text[start - 2] == "\\" and before in "ntr":
        return True
    return start >= 3 and text[start - 3] == "%" and before in _HEX and text[start - 2] in _HEX


# ---- the AWS secret key printed beside its id (`aws configure`, the credentials CSV) ----------

_AWS_ID = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z2-7]{16}(?![A-Za-z0-9])")
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}+(?![A-Za-z0-9/+=])")


def _aws_secret_near_id(text: str) -> Iterator[Span]:
    """A 40-character secret access key on the id's line or the next: each window is read once."""
    for found in _AWS_ID.finditer(text):
        line_end = text.find("\n", found.end(), found.end() + 400)
        stop = text.find("\n", line_end + 1, line_end + 400) if line_end >= 0 else -1
        window_end = stop if stop >= 0 else min(len(text), found.end() + 400)
        for secret in _AWS_SECRET.finditer(text, found.end(), window_end):
            if looks_random(secret.group(), min_len=40, min_entropy=3.5):
                yield secret.span()
                break


# ---- key blocks ------------------------------------------------------------------------------

_KEY_BEGIN = re.compile(r"-{4,5}[ ]?BEGIN[ ](?P<kind>[A-Z0-9]{1,20}[ ]){0,3}PRIVATE[ ]KEY(?:[ ]BLOCK)?[ ]?-{4,5}")
_KEY_END = re.compile(r"-{4,5}[ ]?END[ ](?:[A-Z0-9]{1,20}[ ]){0,3}PRIVATE[ ]KEY(?:[ ]BLOCK)?[ ]?-{4,5}")
_PUTTY = re.compile(r"Private-Lines:[ ]?[0-9]{1,6}")
_PUTTY_END = re.compile(r"Private-MAC:[ ]?[0-9a-fA-F]{0,128}+")


def _key_blocks(text: str) -> Iterator[Span]:
    """Header to footer, or to the end of the text when the footer is cut off: a half key is
    still a key. The body is found with `str.find`-like scans, never with backtracking."""
    for begin, end_re in ((_KEY_BEGIN, _KEY_END), (_PUTTY, _PUTTY_END)):
        pos = 0
        while (head := begin.search(text, pos)) is not None:
            tail = end_re.search(text, head.end())
            stop = tail.end() if tail else len(text)
            yield head.start(), stop
            pos = stop


# ---- URLs and connection strings --------------------------------------------------------------

_URL = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}+://(?P<rest>[^\s'\"<>`]{1,512}+)")
_HOST = re.compile(r"[A-Za-z0-9.\[\]:-]{1,255}(?:[/?#]|\Z)")
_DUMMY_PASSWORDS = frozenset({"x-oauth-basic", "x", "x-oauth-token", "pass", "password"})


def _url_credentials(text: str) -> Iterator[Span]:
    """`scheme://user:password@host`: the password runs to the last `@` that a host follows
    (`P@ssw0rd@db`, `…/PP@cache`), the user's name kept; a token as the user before a dummy
    password (`TOKEN:x-oauth-basic@github.com`) is taken instead."""
    for match in _URL.finditer(text):
        rest, base = match.group("rest"), match.start("rest")
        at = rest.rfind("@")
        while at > 0 and _HOST.match(rest, at + 1) is None:
            at = rest.rfind("@", 0, at)
        colon = rest.find(":", 0, at)
        if at <= 0 or colon < 0 or "/" in rest[:colon]:
            continue
        user, password = rest[:colon], rest[colon + 1: at]
        if password.lower() in _DUMMY_PASSWORDS and looks_random(user, min_len=20):
            yield base, base + colon
        elif password and not is_placeholder(password) and not password.startswith("[REDACTED"):
            yield base + colon + 1, base + at


_URL_TOKEN_USER = r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}+://(?P<secret>[A-Za-z0-9_.~-]{20,256}+)@"


def _token_user(match: re.Match[str]) -> bool:
    return looks_random(match.group("secret"), min_len=20)


# ---- HTTP authorization ------------------------------------------------------------------------

_AUTH_HEADER = re.compile(
    r"(?i)(?<![\w-])(?:proxy-)?authorization[\"']?[ \t]{0,5}+[:=][ \t]{0,5}+[\"']?"
    r"(?:(?P<single>basic|bearer|token|apikey|api-key|sso-key|key|otp|jwt|dpop|gosso|splunk)[ \t]{1,5}+"
    r"(?P<token>[^\s\"'\\]{1,8192}+)"
    r"|(?P<scheme>digest|negotiate|ntlm|mac|hawk|aws4-hmac-sha256)[ \t]{1,5}+(?P<rest>[^\s\"'\\][^\"'\\\n]{0,8191}+)"
    r"|(?P<bare>[^\s\"'\\]{1,8192}+))"
)
_BEARER = r"(?i)(?<![\w-])bearer[ \t]{1,5}+(?P<secret>[A-Za-z0-9._~+/=-]{16,4096}+)"


_SCHEMES = frozenset({"basic", "bearer", "token", "apikey", "api-key", "sso-key", "key", "otp", "jwt", "dpop"})


def _auth_headers(text: str) -> Iterator[Span]:
    """Bearer, Basic and the other one-token schemes: the token; Digest, AWS4 and the like:
    the rest of the header; no scheme: the value, unless it is a scheme's name or code
    (`"Authorization": "Bearer " + token`, `authorization = request.headers.get(…)`)."""
    for match in _AUTH_HEADER.finditer(text):
        group = next(g for g in ("token", "rest", "bare") if match.group(g) is not None)
        value = match.group(group).rstrip()
        first = value.split(None, 1)[0] if value else ""
        if group == "bare" and (first.lower() in _SCHEMES or is_code(first) or first[:1] in "`{$(+"):
            continue
        if len(value) >= 4 and not is_placeholder(first) and not value.startswith("[REDACTED"):
            start = match.start(group)
            yield start, start + len(value)


def _bearer_value(match: re.Match[str]) -> bool:
    return looks_random(match.group("secret"), min_len=16, min_entropy=3.0)


# ---- assignments: NAME = value, "name": "value", NAME: value, --flag value --------------------

_VALUE = (  # a quote that does not close within the bound still holds the secret: to the line's end
    r"(?:[bBrRuUfF]{1,2}(?=[\"']))?"  # b"…", r'…'
    r"(?:\"\"\"(?P<tq>(?:[^\"\\]|\\.|\"(?!\"\")){0,4096}+)(?:\"\"\")?|'''(?P<tq2>(?:[^'\\]|'(?!'')){0,4096}+)(?:''')?"
    r"|\"(?P<dq>(?:[^\"\\\n]|\\.){0,4096}+)\"?|'(?P<sq>[^'\n]{0,4096}+)'?|`(?P<bq>[^`\n]{0,4096}+)`?"
    r"|\\\"(?P<eq>[^\"\\\n]{0,4096}+)\\\""  # JSON inside a JSON string: \"SecretAccessKey\": \"…\"
    r"|(?P<bare>[^\s\"'`,;|)\]}<>&]{1,4096}+))"
)
_ASSIGNMENT = re.compile(
    r"(?<![\w.$-])(?P<name>[A-Za-z_][\w.-]{0,80}+)(?:\\?[\"']\]?)?[ \t]{0,10}+(?P<sep>:=|=>|=(?!=)|:(?![:/]))[ \t]{0,10}+"
)
_VALUE_AT = re.compile(_VALUE)
_FLAG = re.compile(r"(?<![\w.-])--?(?P<name>[A-Za-z][\w.-]{0,80}+)(?:=|[ \t]{1,5}+)(?!-)" + _VALUE)
_KEBAB = re.compile(r"\A[a-z]{2,30}(?:-[a-z]{2,30}){1,5}\Z")


_AMPERSAND_MORE = re.compile(r"&(?![\w.-]{1,60}=)[^\s\"'`,;|)\]}<>&]{0,4096}+")
_ANNOTATION = re.compile(r"[A-Za-z_&][\w\[\]|., &<>']{0,80}?[ \t]{0,5}=(?!=)[ \t]{0,10}+")  # : str = …


def _value_span(match: re.Match[str], text: str, *, to_space: bool = False) -> tuple[str, Span, bool] | None:
    """The value, its span, and whether it was quoted (a literal for sure). A bare value runs
    on past `&` unless a query field follows (`Tr0ub4dor&3`, not `?token=a&page=2`), and with
    `to_space` to the next blank (an env file's `PW=a,b;c`)."""
    groups = match.groupdict()
    for group in ("tq", "tq2", "dq", "sq", "eq"):
        if groups[group] is not None:
            return groups[group], match.span(group), True
    if groups["bq"] is not None:  # `cmd` in a shell, a template in JS: code, unless it reads as random
        value = groups["bq"]
        return (value, match.span("bq"), True) if looks_random(value, min_len=16) else None
    if groups["bare"] is None:
        return None
    start, end = match.span("bare")
    if to_space:
        end = _TO_SPACE.match(text, end).end()  # type: ignore[union-attr]
    while end < len(text) and text[end] == "&" and end - start < 4096 and (
            more := _AMPERSAND_MORE.match(text, end)) is not None:
        end = more.end()
    return text[start:end], (start, end), False


_TO_SPACE = re.compile(r"[^\s\"'`]{0,4096}+")


def _assignments(text: str) -> Iterator[Span]:
    """Names are found first and values read only after a secret name, so a value that holds
    more assignments (`CONN="…;AccountKey=…"`, `?sv=…&sig=…`) is searched too, and each
    character is still read a bounded number of times."""
    pos = 0
    examined = 0
    while (match := _ASSIGNMENT.search(text, pos)) is not None:
        pos = match.end()
        name = match.group("name")
        examined += 1
        if examined > MAX_CANDIDATES:
            yield 0, len(text)  # built to be slow, not written by hand: withheld whole
            return
        at_line_start = _at_line_start(text, match.start())
        # env files, YAML and .properties hold literals: DB_PASSWORD=postgres, spring.datasource.password=x
        literal = name == name.upper() or (at_line_start and (match.group("sep") == ":" or name.count(".") >= 2))
        if text[max(0, match.start() - 3): match.start()] == "://" or not secret_name(name, env_style=name == name.upper()):
            continue  # user:password in a URL is the URL rule's; other names hold no secret
        if text[max(0, match.start() - 1): match.start()] == ":" and "arn:" in text[max(0, match.start() - 300): match.start()]:
            continue  # arn:aws:secretsmanager:…:secret:prod/db names a secret
        value_at = match.end()
        if match.group("sep") == ":" and (typed := _ANNOTATION.match(text, value_at)) is not None:
            value_at = typed.end()  # api_key: str = "…", const TOKEN: &str = "…"
        value_match = _VALUE_AT.match(text, value_at)
        if value_match is None or (found := _value_span(value_match, text, to_space=literal)) is None:
            continue
        value, span, quoted = found
        pos = max(pos, span[1])  # a secret's name owns its value, taken or not: ${SECRET_KEY:?unset}
        if not quoted and literal and name != name.upper() and _KEBAB.match(value):
            continue  # existingSecret: postgres-credentials names a secret, it is not one
        if plausible_value(value, literal=quoted or literal, quoted=quoted) and not _RULE_LIST.match(value):
            yield span


_RULE_LIST = re.compile(r"\A[a-z_]{2,30}(?::[\w,.]{1,40})?(?:\|[a-z_]{2,30}(?::[\w,.]{1,40})?){1,20}\Z")  # required|min:8


def _at_line_start(text: str, pos: int) -> bool:
    """Only blanks, a list dash, a diff's sign or a quote before `pos` on its line (`KEY: v` in
    YAML, `KEY=v`); looked for within 200 characters, so a long line costs nothing."""
    window = max(0, pos - 200)
    newline = text.rfind("\n", window, pos)
    if newline < 0 and window > 0:
        return False
    return not text[newline + 1:pos].strip(" \t-+\"'")


# "NAME", "value" in calls, name/value pairs in manifests, XML elements and attributes
_PAIRS = re.compile(
    r"(?:(?i:name|key|parameterkey)[\"']?[ \t]{0,5}+[:=][ \t]{0,5}+[\"']?(?P<name2>[A-Za-z_][\w.-]{0,80}+)[\"']?"
    r"[ \t]{0,5}+(?:,|\n[ \t-]{0,40}+)[ \t]{0,5}+[\"']?(?i:value|parametervalue)[\"']?[ \t]{0,5}+[:=][ \t]{0,5}+"
    r"|(?P<q>[\"'])(?P<name>[A-Za-z_][\w.-]{0,80}+)(?P=q)[ \t]{0,5}+,[ \t]{0,5}+"  # define('DB_PASSWORD', '…')
    r"|<(?P<tag>[A-Za-z_][\w.-]{0,80}+)>(?=[^<\n]{1,4096}+</(?P=tag)>))"
)


def _pairs(text: str) -> Iterator[Span]:
    for match in _PAIRS.finditer(text):
        name = match.group("name") or match.group("name2") or match.group("tag")
        if not secret_name(name, env_style=name == name.upper()):
            continue
        if match.group("tag") is not None:
            end = text.index("<", match.end())
            if plausible_value(text[match.end():end], literal=True, quoted=True):
                yield match.end(), end
            continue
        value_match = _VALUE_AT.match(text, match.end())
        if value_match is not None and (found := _value_span(value_match, text)) is not None:
            value, span, quoted = found
            if plausible_value(value, literal=quoted or match.group("name2") is not None, quoted=quoted):
                yield span


def _flags(text: str) -> Iterator[Span]:
    for match in _FLAG.finditer(text):
        if not secret_name(match.group("name")):
            continue
        found = _value_span(match, text)
        if found is not None and plausible_value(found[0], literal=True, quoted=True) and not found[0].startswith("@") \
                and not _KEBAB.match(found[0]):  # --secret=db-password names a secret, it is not one
            yield found[1]


# ---- the credential flags of common clients ---------------------------------------------------

_CLIENT_NAMES = (
    r"mysql\w{0,10}|mariadb\w{0,10}|curl|wget|redis-cli|docker|podman|nerdctl|helm|sshpass|"
    r"aws|gh|npm|yarn|pnpm|twine|mongo(?:sh|dump|restore|import|export)?|sqlcmd|smbclient|openssl|keytool|"
    r"lftp|htpasswd|psql|pg_dump|pip3?|git|http|https|poetry|sqlplus"
)
_CLIENT = re.compile(rf"(?<![\w./-])(?P<cmd>{_CLIENT_NAMES})(?![\w:-])")
_CLIENT_WORDS = frozenset(re.sub(r"\\w\{0,10\}|\(\?:.*?\)\?|3\?", "", _CLIENT_NAMES).split("|")) | {"pip3"}
_CLIENT_NAME = re.compile(rf"(?:[\w./-]{{0,200}}/)?(?P<cmd>{_CLIENT_NAMES})")
_TOKEN = re.compile(r"(?<!\\)\"(?:[^\"\\\n]|\\.){0,2000}+\"|(?<!\\)'[^'\n]{0,2000}+'|[^\s\"'|;&]{1,2000}+|[|;&\n]")
_SEGMENT_END = frozenset({"|", ";", "&", "\n"})
_SEGMENT_NAIVE = re.compile(r"[^|;&\n]*+")
_SEGMENT = re.compile(r"(?:(?<!\\)\"(?:[^\"\\\n]|\\.){0,2000}+\"|(?<!\\)'[^'\n]{0,2000}+'|[^|;&\n])*+")


def _unquoted(token: str, start: int) -> tuple[str, Span]:
    if len(token) >= 2 and token[0] in "\"'" and token[-1] == token[0]:
        return token[1:-1], (start + 1, start + len(token) - 1)
    return token, (start, start + len(token))


def _after(token: str, start: int, sep: str) -> Span | None:
    """The part of a `user:password` (or `user%password`, `pass:secret`) argument after `sep`."""
    value, (a, _b) = _unquoted(token, start)
    head, found, secret = value.partition(sep)
    if not found or not secret or is_placeholder(secret):
        return None
    offset = a + len(head) + 1
    return offset, offset + len(secret)


def _whole(token: str, start: int) -> Span | None:
    value, span = _unquoted(token, start)
    if not value or value.startswith(("-", "$", "<", "@")) or is_placeholder(value):
        return None
    return span


# per client: short flags whose next argument is the secret, attached-value flags, and
# flags whose argument holds `user<sep>secret`.
_NEXT = {
    "docker": {"-p"}, "podman": {"-p"}, "nerdctl": {"-p"}, "helm": {"-p"}, "sshpass": {"-p"},
    "redis-cli": {"-a"}, "twine": {"-p"}, "mongo": {"-p"}, "mongosh": {"-p"}, "mongodump": {"-p"},
    "mongorestore": {"-p"}, "mongoimport": {"-p"}, "mongoexport": {"-p"}, "sqlcmd": {"-P"},
    "keytool": {"-storepass", "-keypass", "-srcstorepass", "-deststorepass"}, "gh": {"-b", "--body"},
}
_ATTACHED = {"mysql": "-p", "mariadb": "-p", "sshpass": "-p", "docker": "-p", "sqlcmd": "-P", "podman": "-p"}
_USERPASS = {
    "curl": ({"-u", "--user", "-U", "--proxy-user", "-E", "--cert"}, ":"),
    "http": ({"-a", "--auth"}, ":"), "https": ({"-a", "--auth"}, ":"),  # httpie
    "smbclient": ({"-U", "--user"}, "%"),
    "lftp": ({"-u"}, ","),
}
# `-p` is a port elsewhere (`docker run -p 80:80`), `-b` a body (`gh pr create -b …`)
_CONTEXT = {"docker": "login", "podman": "login", "nerdctl": "login", "helm": "login", "gh": "secret"}


def _client_args(text: str) -> Iterator[Span]:
    """Each client's arguments up to the end of its command. Read twice: minding quotes
    (`sshpass -p 'two words'`), and not (`ssh host "curl -u me:pw …" ; redis-cli -a pw`),
    where a quote opened in one command would otherwise swallow the next."""
    yield from _client_scan(text, _SEGMENT)
    if '"' in text or "'" in text:
        yield from _client_scan(text, _SEGMENT_NAIVE)


def _client_scan(text: str, segment_re: re.Pattern[str]) -> Iterator[Span]:
    pos = 0
    while (found := _CLIENT.search(text, pos)) is not None:
        segment = segment_re.match(text, found.end())
        assert segment is not None  # matches the empty string
        pos = max(segment.end(), found.end())
        body = segment.group()
        if "-" not in body and " set " not in body and "pass:" not in body and "/" not in body:
            continue  # no flag and no `config set`: nothing to look at
        tokens = [(t.group(), t.start()) for t in itertools.islice(
            _TOKEN.finditer(text, found.end(), segment.end()), MAX_CANDIDATES + 1) if t.group() not in _SEGMENT_END]
        if len(tokens) > MAX_CANDIDATES:
            yield found.start(), segment.end()  # no command line is this long: withheld whole
            continue
        yield from _by_command(found.group("cmd"), tokens)


def _by_command(cmd: str, tokens: list[tuple[str, int]]) -> Iterator[Span]:
    """A client named among the arguments (`sudo -u redis redis-cli -a …`, `xargs curl …`)
    takes the arguments after it."""
    first = 0
    for i, (token, _start) in enumerate(tokens):
        name = token.rpartition("/")[2]
        if (name in _CLIENT_WORDS or name.startswith(("mysql", "mariadb", "mongo"))) and \
                (named := _CLIENT_NAME.fullmatch(token)) is not None:
            yield from _client_spans(_family(cmd), tokens[first:i])
            cmd, first = named.group("cmd"), i + 1
    yield from _client_spans(_family(cmd), tokens[first:])


def _family(cmd: str) -> str:
    return "mysql" if cmd.startswith("mysql") else "mariadb" if cmd.startswith("mariadb") else cmd


def _client_spans(family: str, tokens: list[tuple[str, int]]) -> Iterator[Span]:
    if len(tokens) > MAX_CANDIDATES:
        yield tokens[0][1], tokens[-1][1] + len(tokens[-1][0])  # no command line is this long
        return
    if (needed := _CONTEXT.get(family)) and not any(token == needed for token, _ in tokens):
        return
    openssl_pass = family == "openssl"
    for i, (token, start) in enumerate(tokens):
        if token[0] != "-" and token != "set" and not (openssl_pass and "pass:" in token) \
                and family not in ("poetry", "sqlplus"):
            continue  # the common case: an argument that no credential flag precedes
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        span: Span | None = None
        if (token in _NEXT.get(family, ()) and following) or ((flag := _ATTACHED.get(family)) and token == flag and following and following[1] == start + len(flag) \
                and following[0][:1] in "\"'"):
            span = _whole(*following)
        elif (flag := _ATTACHED.get(family)) and token.startswith(flag) and len(token) > len(flag) \
                and not token.startswith("--"):
            span = _whole(token[len(flag):], start + len(flag))
        elif family == "curl" and token.startswith("-u") and len(token) > 2:
            span = _after(token[2:], start + 2, ":")
        elif family == "poetry" and token.startswith("http-basic.") and i + 2 < len(tokens):
            span = _whole(*tokens[i + 2])
        elif family == "sqlplus" and "/" in token and not token.startswith(("-", "/")):
            span = _after(token.partition("@")[0], start, "/")
        elif family in _USERPASS and following and token in _USERPASS[family][0]:
            span = _after(*following, _USERPASS[family][1])
        elif family in _USERPASS and token.startswith("--user=") :
            span = _after(token[7:], start + 7, _USERPASS[family][1])
        elif openssl_pass and token.startswith(("pass:", "'pass:", '"pass:')):
            span = _after(token, start, ":")
        elif (family == "aws" and token == "set" and i + 2 < len(tokens) and secret_name(tokens[i + 1][0])) or (family in {"npm", "yarn", "pnpm"} and token == "set" and i + 2 < len(tokens) \
                and ("auth" in tokens[i + 1][0].lower() or secret_name(tokens[i + 1][0]))):
            span = _whole(*tokens[i + 2])
        elif family == "htpasswd" and token.startswith("-") and "b" in token and len(tokens) >= i + 4:
            span = _whole(*tokens[i + 3])
        if span is not None:
            yield span


_PIPED = (
    r"(?<![\w-])(?:echo|printf)[ \t]{1,5}+(?:-[neE]{1,3}[ \t]{1,5}+)?"
    r"(?P<secret>\"(?:[^\"\\\n]|\\.){1,2000}+\"|'[^'\n]{1,2000}+'|[^\s|;&]{1,2000}+)"
    r"[ \t]{0,5}+\|[^\n|;&]{0,2000}?(?:--password-stdin|--with-token|--pass(?:word)?-stdin|chpasswd|"
    r"\bpasswd\b|vault[ \t]+login|--stdin|sudo[ \t]+-S)"
)


def _piped_secret(match: re.Match[str]) -> bool:
    value = match.group("secret").strip("\"'")
    return len(value) >= 4 and not is_placeholder(value) and not value.startswith("[REDACTED")


# ---- cookies, .netrc, SQL -------------------------------------------------------------------

_COOKIE = re.compile(r"(?i)(?<![\w-])(?:set-)?cookie[\"']?[ \t]{0,5}+:[ \t]{0,5}+(?P<value>[^\n\"'\\]{1,8192}+)")
_COOKIE_PAIR = re.compile(r"(?P<name>[^\s=;,]{1,100}+)=(?P<secret>[^\s;,]{1,4096}+)")
_SESSION = re.compile(r"(?i)sess|sid|auth|token|jwt|remember|csrf|xsrf|login|user")


def _cookies(text: str) -> Iterator[Span]:
    """Cookie and Set-Cookie values: a session's, or any that reads as random."""
    for header in _COOKIE.finditer(text):
        base = header.start("value")
        for pair in _COOKIE_PAIR.finditer(header.group("value")):
            value = pair.group("secret")
            if ((_SESSION.search(pair.group("name")) and len(value) >= 8) or looks_random(value, min_len=16)) \
                    and not is_placeholder(value):
                yield base + pair.start("secret"), base + pair.end("secret")


_NETRC = (r"(?<![\w-])machine[ \t]+\S{1,255}+(?:[ \t\n]+(?:login|account)[ \t]+\S{1,255}+)?[ \t\n]+password[ \t]+"
          r"(?P<secret>\S{1,600}+)")


def _netrc_secret(match: re.Match[str]) -> bool:
    """With `login`, any value; without, one that does not read as a word (`machine learning password policy`)."""
    return _piped_secret(match) and ("login" in match.group() or plausible_password(match.group("secret")))


_SQL_PASSWORD = (
    r"(?i)(?:\bidentified[ \t]+(?:with[ \t]+\w{1,40}[ \t]+)?by[ \t]+(?:password[ \t]+)?|\bpassword[ \t]*\([ \t]*"
    r"|\bwith[ \t]+(?:encrypted[ \t]+)?password[ \t]+|\bchangeUserPassword\([ \t]*'[^'\n]{1,100}+'[ \t]*,[ \t]*)"
    r"'(?P<secret>[^'\n]{1,600}+)'"
)


# ---- prose and high-entropy values beside a secret word ---------------------------------------

_PROSE = re.compile(
    r"(?i)(?<![\w-])(?P<kw>passwords?|passwd|passphrase|passcode|pwd|pw|pin|creds|passwort|kennwort|contrase[ñn]a|"
    r"mot[ \t]de[ \t]passe|senha|tokens?|secrets?|"
    r"(?:api|access|secret|private|client)[ _-]?key|apikey|key|credentials?)(?![\w-])"
    r"[*_]{0,3}(?:[ \t]{1,3}+['\"]?[A-Za-z][\w.-]{0,15}+['\"]?){0,4}?[ \t]{0,3}+(?P<sep>:|=|->|=>|\bis(?:[ \t]now)?\b|\bwas\b|\bare\b|\bto\b)"
    r"[ \t]{0,3}+[\"'`]?(?P<secret>[^\s\"'`,;()<>\[\]{}]{4,300}+)"
)
# "used token fkZV4q… to call", "new password \"HE%up…\"": the value right after the word
_PROSE_NEXT = re.compile(
    r"(?i)(?<![\w-])(?P<kw>passwords?|passwd|passphrase|pwd|tokens?|secrets?|key|credentials?)"
    r"[ \t]{1,3}+(?:\"(?P<dq>[^\"\n]{4,200}+)\"|'(?P<sq>[^'\n]{4,200}+)'|(?P<secret>[^\s\"'`,;()<>\[\]{}]{20,300}+))"
)
_PASSWORD_WORDS = ("pass", "pwd", "pw", "pin", "cred", "kennwort", "contras", "mot", "senha")


def _prose_next(text: str) -> Iterator[Span]:
    for match in _PROSE_NEXT.finditer(text):
        group = next(g for g in ("dq", "sq", "secret") if match.group(g) is not None)
        value = match.group(group)
        password = match.group("kw").lower().startswith(_PASSWORD_WORDS)
        if value.startswith("[REDACTED") or is_placeholder(value) or is_code(value):
            continue
        if (password and group != "secret" and plausible_password(value)) or (
            looks_random(value, min_len=20, min_entropy=3.5) and not _is_digest(value)
            and not _names_a_thing(match.group("kw").lower(), value) and not _FILE.match(value)
        ):
            yield match.span(group)


def _prose(text: str) -> Iterator[Span]:
    for match in _PROSE.finditer(text):
        keyword = match.group("kw").lower()
        value = match.group("secret").rstrip(".!?:")
        end = match.start("secret") + len(value)
        code_like = match.group("sep") in ("=", "=>") and (is_code(value) or _SNAKE_OR_CAMEL.match(value) is not None)
        if value.startswith("[REDACTED") or is_placeholder(value) or code_like or text[end:end + 1] in ("(", "["):
            continue  # password = getpass.getpass(), password=password_input
        if keyword.startswith(_PASSWORD_WORDS):
            ok = plausible_password(value)
        else:
            ok = looks_random(value, min_len=16, min_entropy=3.0) and not _is_digest(value) and not _names_a_thing(
                keyword, value)
        if ok:
            yield match.start("secret"), end


_SNAKE_OR_CAMEL = re.compile(r"\A[A-Za-z]{1,40}(?:_[A-Za-z]{1,40}){0,6}\Z|\A[a-z]{1,40}(?:[A-Z][a-z]{1,40}){1,6}\Z")
_UUID = re.compile(r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_HEX_TAIL = re.compile(r"[-_.][0-9a-fA-F]{16,}\Z")
_FILE = re.compile(r"\A[\w./~-]{1,400}\.[A-Za-z0-9]{1,5}\Z|\A[~.]?/")


def _names_a_thing(keyword: str, value: str) -> bool:
    """A bare `key` in a log names a cache entry, an object or an id, not a credential."""
    return keyword == "key" and (bool(_HEX_TAIL.search(value)) or bool(_FILE.match(value)) or bool(_UUID.match(value)))


def _is_digest(value: str) -> bool:
    return (":" in value[:8] and is_id_or_digest(value)) or value.lower().startswith(("sha", "md5"))


_SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "credential", "sig", "pin", "pat", "auth", "bearer")

RULES: tuple[Rule, ...] = (
    Rule("private_key", ("private key", "private-lines"), _key_blocks,
         "key blocks of every kind: RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP, PuTTY"),
    *(_provider_rule(*spec) for spec in _PROVIDERS),
    Rule("aws_secret_key", ("akia", "asia"), _aws_secret_near_id,
         "AWS secret access key beside its id (the credentials CSV, an `aws configure` transcript)"),
    Rule("url_password", ("://",), _url_credentials,
         "URLs and connection strings with a password, the user's name kept (redis://:pw@ too)"),
    Rule("url_token", ("://",), _regex(_URL_TOKEN_USER, _token_user), "a token in a URL's user part"),
    Rule("http_auth", ("authorization",), _auth_headers,
         "Authorization and Proxy-Authorization header values, whatever the scheme"),
    Rule("bearer", ("bearer",), _regex(_BEARER, _bearer_value), "a bearer token outside a header"),
    Rule("assignment", _SECRET_WORDS, _assignments,
         "NAME=value, name: value, \"name\": \"value\" where the name marks a secret; code values kept"),
    Rule("assignment", _SECRET_WORDS, _pairs,
         "a secret's name and its value as a pair: define('DB_PASSWORD', '…'), k8s name/value, <password>…</password>"),
    Rule("cookie", ("cookie",), _cookies, "Cookie and Set-Cookie values of sessions, or that read as random"),
    Rule("netrc", ("machine",), _regex(_NETRC, _netrc_secret), ".netrc lines: machine … login … password …"),
    Rule("sql_password", ("identified", "password"), _regex(_SQL_PASSWORD, _piped_secret),
         "IDENTIFIED BY '…', PASSWORD('…'), WITH PASSWORD '…', changeUserPassword(…, '…')"),
    Rule("cli_flag", _SECRET_WORDS, _flags, "--password X, --token=X, -storepass X and the like"),
    Rule("cli_credentials", ("mysql", "mariadb", "curl", "wget", "redis-cli", "docker", "podman", "nerdctl",
                             "helm", "sshpass", "aws", "gh", "npm", "yarn", "pnpm", "twine", "mongo", "sqlcmd",
                             "smbclient", "openssl", "keytool", "lftp", "htpasswd", "psql", "pg_dump", "pip",
                             "git", "http", "poetry", "sqlplus"), _client_args,
         "client-specific credential flags: mysql -pX, curl -u user:pw, redis-cli -a, docker login -p, …"),
    Rule("piped_secret", ("echo", "printf"), _regex(_PIPED, _piped_secret),
         "a value echoed into --password-stdin, --with-token or passwd"),
    Rule("prose", ("pass", "pwd", "pw", "pin", "token", "secret", "key", "cred", "kennwort", "contrase", "senha"), _prose,
         "a password written in words (\"the db password is …\"), or a high-entropy value after a secret word",
         needs=(":", "=", "->", " is", " was", " are", " to")),
    Rule("prose", ("pass", "pwd", "token", "secret", "key", "credential"), _prose_next,
         "a quoted password, or a high-entropy value, right after a secret word (\"used token fkZV…\")"),
)
