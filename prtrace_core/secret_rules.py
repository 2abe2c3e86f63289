"""The built-in secret rules: where secrets sit in commands, files, output and prose.

Every rule is linear in its input. Patterns use bounded, possessive quantifiers and start
only where a run of their own alphabet starts (a look-behind on that alphabet), so a hostile
megabyte of `ghp_ghp_…` or `a=a=a=…` costs one pass, not one pass per position. Each rule
names literal keywords; it runs only when one occurs in the text. docs/security.md lists
the families and the measured precision and recall.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Rule:
    """One family of secrets. `find` yields the spans to replace; `keywords` (lowercase
    literals) gate it: without one of them in the text the rule cannot match."""

    name: str
    keywords: tuple[str, ...]
    find: Callable[[str], Iterator[Span]]
    about: str
    needs: tuple[str, ...] = ()  # and one of these too (lowercase literals), when given


def _regex(pattern: str, check: Callable[[re.Match[str]], bool] | None = None, group: str = "secret",
           flags: int = 0) -> Callable[[str], Iterator[Span]]:
    compiled = re.compile(pattern, flags)

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
_B = r"(?:(?<![A-Za-z0-9_.-])|(?<=-)(?<![^\s\"'`=:,;(\[{|<>]-))"
_B_LOOSE = r"(?<![A-Za-z0-9_.])"  # for a token whose characters exclude `-`: `x-ghp_…` cannot chain
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
    # `(?![A-Za-z0-9])`: a run longer than any real token of the kind is not one (and is left
    # whole, so redacting twice changes nothing)
    boundary = _B if "-]" in body else _B_LOOSE
    pattern = body if "(?P<secret>" in body else f"{boundary}(?P<secret>{body})(?![A-Za-z0-9])"
    return Rule(name, keywords, _regex(pattern, check), f"{name.replace('_', ' ')} by its published prefix")


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

def _url_secret(match: re.Match[str]) -> bool:
    value = match.group("secret")
    return not is_placeholder(value) and not value.startswith("[REDACTED")


_URL_PASSWORD = (
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}+://(?P<user>[^\s:/@?#'\"<>]{0,256}+)"
    r":(?P<secret>[^\s@/?#'\"<>]{1,1024}+)@"
)
_URL_TOKEN_USER = r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}+://(?P<secret>[A-Za-z0-9_.~-]{20,256}+)@"


def _token_user(match: re.Match[str]) -> bool:
    return looks_random(match.group("secret"), min_len=20)


# ---- HTTP authorization ------------------------------------------------------------------------

_AUTH_HEADER = (
    r"(?i)(?<![\w-])(?:proxy-)?authorization[\"']?[ \t]{0,5}+[:=][ \t]{0,5}+[\"']?"
    r"(?:(?P<single>basic|bearer|token|apikey|api-key|sso-key|key|otp|jwt|dpop|gosso|splunk)[ \t]{1,5}+"
    r"(?P<token>[^\s\"'\\]{1,8192}+)"
    r"|(?:digest|negotiate|ntlm|mac|hawk|aws4-hmac-sha256)?[ \t]{0,5}+(?P<rest>[^\s\"'\\][^\"'\\\n]{0,8191}+))"
)
_AUTH_HEADER_RE = re.compile(_AUTH_HEADER)
_BEARER = r"(?i)(?<![\w-])bearer[ \t]{1,5}+(?P<secret>[A-Za-z0-9._~+/=-]{16,4096}+)"


def _auth_headers(text: str) -> Iterator[Span]:
    """Bearer, Basic and the other one-token schemes: the token; Digest, AWS4 and a value
    without a scheme: the rest of the header."""
    for match in _AUTH_HEADER_RE.finditer(text):
        group = "token" if match.group("token") is not None else "rest"
        value = match.group(group).rstrip()
        first = value.split(None, 1)[0] if value else ""
        if len(value) >= 4 and not is_placeholder(first) and not value.startswith("[REDACTED"):
            start = match.start(group)
            yield start, start + len(value)


def _bearer_value(match: re.Match[str]) -> bool:
    return looks_random(match.group("secret"), min_len=16, min_entropy=3.0)


# ---- assignments: NAME = value, "name": "value", NAME: value, --flag value --------------------

_VALUE = (
    r"(?:\"(?P<dq>(?:[^\"\\\n]|\\.){0,600}+)\"|'(?P<sq>[^'\n]{0,600}+)'|`(?P<bq>[^`\n]{0,600}+)`"
    r"|\\\"(?P<eq>[^\"\\\n]{0,600}+)\\\""  # JSON inside a JSON string: \"SecretAccessKey\": \"…\"
    r"|(?P<bare>[^\s\"'`,;|)\]}<>]{1,600}+))"
)
_ASSIGNMENT = re.compile(
    r"(?<![\w.$-])(?P<name>[A-Za-z_][\w.-]{0,80}+)(?:\\?[\"'])?[ \t]{0,10}+(?P<sep>:=|=>|==|=|:(?![:/]))[ \t]{0,10}+"
)
_VALUE_AT = re.compile(_VALUE)
_FLAG = re.compile(r"(?<![\w.-])--?(?P<name>[A-Za-z][\w.-]{0,80}+)(?:=|[ \t]{1,5}+)(?!-)" + _VALUE)
_QUERY_NEXT = re.compile(r"&[\w.-]{1,60}=")


def _value_span(match: re.Match[str]) -> tuple[str, Span, bool] | None:
    """The value, its span, and whether it was quoted (a literal for sure)."""
    dq, sq, bq, eq, value = match.group("dq", "sq", "bq", "eq", "bare")
    if dq is not None or sq is not None or bq is not None or eq is not None:
        group = "dq" if dq is not None else "sq" if sq is not None else "bq" if bq is not None else "eq"
        return match.group(group), match.span(group), True
    if value is None:
        return None
    start = match.start("bare")
    if "&" in value and (cut := _QUERY_NEXT.search(value)) is not None:  # ?token=abc&page=2: to the next param
        value = value[: cut.start()]
    return value, (start, start + len(value)), False


def _assignments(text: str) -> Iterator[Span]:
    """Names are found first and values read only after a secret name, so a value that holds
    more assignments (`CONN="…;AccountKey=…"`, `?sv=…&sig=…`) is searched too, and each
    character is still read a bounded number of times."""
    pos = 0
    while (match := _ASSIGNMENT.search(text, pos)) is not None:
        pos = match.end()
        name = match.group("name")
        env_style = name == name.upper()  # DB_PASSWORD=, POSTGRES_PASSWORD:
        if text[max(0, match.start() - 3): match.start()] == "://" or not secret_name(name, env_style=env_style):
            continue  # user:password in a URL is the URL rule's; other names hold no secret
        value_match = _VALUE_AT.match(text, match.end())
        if value_match is None or (found := _value_span(value_match)) is None:
            continue
        value, span, quoted = found
        pos = max(pos, span[1])  # a secret's name owns its value, taken or not: ${SECRET_KEY:?unset}
        if plausible_value(value, literal=quoted or env_style, quoted=quoted):
            yield span


def _flags(text: str) -> Iterator[Span]:
    for match in _FLAG.finditer(text):
        if not secret_name(match.group("name")):
            continue
        found = _value_span(match)
        if found is not None and plausible_value(found[0], literal=True, quoted=True) and not found[0].startswith("@"):
            yield found[1]


# ---- the credential flags of common clients ---------------------------------------------------

_CLIENT_NAMES = (
    r"mysql\w{0,10}|mariadb\w{0,10}|curl|wget|redis-cli|docker|podman|nerdctl|helm|sshpass|"
    r"aws|gh|npm|yarn|pnpm|twine|mongo(?:sh|dump|restore|import|export)?|sqlcmd|smbclient|openssl|keytool|"
    r"lftp|htpasswd|psql|pg_dump|pip3?|git"
)
_CLIENT = re.compile(rf"(?<![\w./-])(?P<cmd>{_CLIENT_NAMES})(?![\w-])")
_CLIENT_NAME = re.compile(rf"(?:[\w./-]{{0,200}}/)?(?P<cmd>{_CLIENT_NAMES})")
_TOKEN = re.compile(r"\"(?:[^\"\\\n]|\\.){0,2000}+\"|'[^'\n]{0,2000}+'|[^\s\"'|;&]{1,2000}+|[|;&\n]")
_SEGMENT_END = frozenset({"|", ";", "&", "\n"})
_SEGMENT_NAIVE = re.compile(r"[^|;&\n]*+")
_SEGMENT = re.compile(r"(?:\"(?:[^\"\\\n]|\\.){0,2000}+\"|'[^'\n]{0,2000}+'|[^|;&\n])*+")


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
_ATTACHED = {"mysql": "-p", "mariadb": "-p", "sshpass": "-p"}
_USERPASS = {
    "curl": ({"-u", "--user", "-U", "--proxy-user", "-E", "--cert"}, ":"),
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
    yield from _client_scan(text, _SEGMENT_NAIVE)


def _client_scan(text: str, segment_re: re.Pattern[str]) -> Iterator[Span]:
    pos = 0
    while (found := _CLIENT.search(text, pos)) is not None:
        segment = segment_re.match(text, found.end())
        assert segment is not None  # matches the empty string
        pos = max(segment.end(), found.end())
        body = segment.group()
        if "-" not in body and " set " not in body and "pass:" not in body:
            continue  # no flag and no `config set`: nothing to look at
        tokens = [(t.group(), t.start()) for t in _TOKEN.finditer(text, found.end(), segment.end())
                  if t.group() not in _SEGMENT_END]
        yield from _by_command(found.group("cmd"), tokens)


def _by_command(cmd: str, tokens: list[tuple[str, int]]) -> Iterator[Span]:
    """A client named among the arguments (`sudo -u redis redis-cli -a …`, `xargs curl …`)
    takes the arguments after it."""
    first = 0
    for i, (token, _start) in enumerate(tokens):
        if (named := _CLIENT_NAME.fullmatch(token)) is not None:
            yield from _client_spans(_family(cmd), tokens[first:i])
            cmd, first = named.group("cmd"), i + 1
    yield from _client_spans(_family(cmd), tokens[first:])


def _family(cmd: str) -> str:
    return "mysql" if cmd.startswith("mysql") else "mariadb" if cmd.startswith("mariadb") else cmd


def _client_spans(family: str, tokens: list[tuple[str, int]]) -> Iterator[Span]:
    if (needed := _CONTEXT.get(family)) and not any(token == needed for token, _ in tokens):
        return
    openssl_pass = family == "openssl"
    for i, (token, start) in enumerate(tokens):
        if token[0] != "-" and token != "set" and not (openssl_pass and "pass:" in token):
            continue  # the common case: an argument that no credential flag precedes
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        span: Span | None = None
        if token in _NEXT.get(family, ()) and following:
            span = _whole(*following)
        elif (flag := _ATTACHED.get(family)) and token.startswith(flag) and len(token) > len(flag) \
                and not token.startswith("--"):
            span = _whole(token[len(flag):], start + len(flag))
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
    r"\bpasswd\b|vault[ \t]+login|--stdin)"
)


def _piped_secret(match: re.Match[str]) -> bool:
    value = match.group("secret").strip("\"'")
    return len(value) >= 4 and not is_placeholder(value) and not value.startswith("[REDACTED")


# ---- prose and high-entropy values beside a secret word ---------------------------------------

_PROSE = re.compile(
    r"(?i)(?<![\w-])(?P<kw>passwords?|passwd|passphrase|passcode|pwd|pw|pin|tokens?|secrets?|"
    r"(?:api|access|secret|private|client)[ _-]?key|apikey|key|credentials?)(?![\w-])"
    r"(?:[ \t]{1,3}+[A-Za-z][\w.-]{0,15}+){0,4}?[ \t]{0,3}+(?::|=|->|=>|\bis(?:[ \t]now)?\b|\bwas\b|\bare\b)"
    r"[ \t]{0,3}+[\"'`]?(?P<secret>[^\s\"'`,;()<>\[\]{}]{4,300}+)"
)
# "used token fkZV4q… to call", "new password \"HE%up…\"": the value right after the word
_PROSE_NEXT = re.compile(
    r"(?i)(?<![\w-])(?P<kw>passwords?|passwd|passphrase|pwd|tokens?|secrets?|key|credentials?)"
    r"[ \t]{1,3}+(?:\"(?P<dq>[^\"\n]{4,200}+)\"|'(?P<sq>[^'\n]{4,200}+)'|(?P<secret>[^\s\"'`,;()<>\[\]{}]{20,300}+))"
)
_PASSWORD_WORDS = ("pass", "pwd", "pw", "pin")


def _prose_next(text: str) -> Iterator[Span]:
    for match in _PROSE_NEXT.finditer(text):
        group = next(g for g in ("dq", "sq", "secret") if match.group(g) is not None)
        value = match.group(group)
        password = match.group("kw").lower().startswith(_PASSWORD_WORDS)
        if value.startswith("[REDACTED") or is_placeholder(value) or is_code(value):
            continue
        if (password and group != "secret" and plausible_password(value)) or (
            looks_random(value, min_len=20, min_entropy=3.5) and not _is_digest(value)
        ):
            yield match.span(group)


def _prose(text: str) -> Iterator[Span]:
    for match in _PROSE.finditer(text):
        keyword = match.group("kw").lower()
        value = match.group("secret").rstrip(".!?:")
        end = match.start("secret") + len(value)
        if value.startswith("[REDACTED") or is_placeholder(value) or is_code(value) or text[end:end + 1] in ("(", "["):
            continue  # password = getpass.getpass(), token: self.token
        if keyword.startswith(_PASSWORD_WORDS):
            ok = plausible_password(value)
        else:
            ok = looks_random(value, min_len=16, min_entropy=3.0) and not _is_digest(value)
        if ok:
            yield match.start("secret"), end


def _is_digest(value: str) -> bool:
    return (":" in value[:8] and is_id_or_digest(value)) or value.lower().startswith(("sha", "md5"))


_SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "credential", "sig", "pin", "pat", "auth", "bearer")

RULES: tuple[Rule, ...] = (
    Rule("private_key", ("private key", "private-lines"), _key_blocks,
         "key blocks of every kind: RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP, PuTTY"),
    *(_provider_rule(*spec) for spec in _PROVIDERS),
    Rule("url_password", ("://",), _regex(_URL_PASSWORD, _url_secret),
         "URLs and connection strings with a password, the user's name kept (redis://:pw@ too)"),
    Rule("url_token", ("://",), _regex(_URL_TOKEN_USER, _token_user), "a token in a URL's user part"),
    Rule("http_auth", ("authorization",), _auth_headers,
         "Authorization and Proxy-Authorization header values, whatever the scheme"),
    Rule("bearer", ("bearer",), _regex(_BEARER, _bearer_value), "a bearer token outside a header"),
    Rule("assignment", _SECRET_WORDS, _assignments,
         "NAME=value, name: value, \"name\": \"value\" where the name marks a secret; code values kept"),
    Rule("cli_flag", _SECRET_WORDS, _flags, "--password X, --token=X, -storepass X and the like"),
    Rule("cli_credentials", ("mysql", "mariadb", "curl", "wget", "redis-cli", "docker", "podman", "nerdctl",
                             "helm", "sshpass", "aws", "gh", "npm", "yarn", "pnpm", "twine", "mongo", "sqlcmd",
                             "smbclient", "openssl", "keytool", "lftp", "htpasswd", "psql", "pg_dump", "pip",
                             "git"), _client_args,
         "client-specific credential flags: mysql -pX, curl -u user:pw, redis-cli -a, docker login -p, …"),
    Rule("piped_secret", ("echo", "printf"), _regex(_PIPED, _piped_secret),
         "a value echoed into --password-stdin, --with-token or passwd"),
    Rule("prose", ("pass", "pwd", "pw", "pin", "token", "secret", "key", "credential"), _prose,
         "a password written in words (\"the db password is …\"), or a high-entropy value after a secret word",
         needs=(":", "=", "->", " is", " was", " are")),
    Rule("prose", ("pass", "pwd", "token", "secret", "key", "credential"), _prose_next,
         "a quoted password, or a high-entropy value, right after a secret word (\"used token fkZV…\")"),
)
