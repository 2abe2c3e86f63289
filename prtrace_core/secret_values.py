"""Judging a candidate value: is it a secret, or code, a placeholder, an id or a digest?

Names alone do not make a secret: `token = next(tokens)` names one and holds code. The rules
in `prtrace_core.secret_rules` find where a value sits; these pure functions decide whether
the value itself looks like a credential, so diffs and replays of code stay intact.
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from collections import Counter

__all__ = [
    "base62_crc32",
    "entropy",
    "github_checksum_ok",
    "is_code",
    "is_digest_or_version",
    "is_id_or_digest",
    "is_placeholder",
    "looks_random",
    "plausible_password",
    "plausible_value",
    "secret_name",
]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def entropy(value: str) -> float:
    """Shannon entropy in bits per character (gitleaks' measure: random base62 ≈ 5, English ≈ 3)."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def base62_crc32(data: str) -> str:
    """CRC32 of `data` in base62, six characters: the checksum GitHub and npm append to tokens."""
    number = zlib.crc32(data.encode())
    out = ""
    while number:
        number, digit = divmod(number, 62)
        out = _BASE62[digit] + out
    return out.rjust(6, "0")


def github_checksum_ok(token: str) -> bool:
    """A classic GitHub token (`ghp_` + 30 random + 6 checksum) whose checksum holds."""
    body = token.partition("_")[2]
    return len(body) == 36 and base62_crc32(body[:30]) == body[30:]


# Words in a name that say "this holds a secret", whole words of the name only.
_SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "pass", "passphrase", "passcode", "secret", "secrets", "token",
    "credential", "credentials", "apikey", "pat", "sig", "signature", "privatekey", "pin", "auth", "auths",
})
_PUBLIC = frozenset({"public", "publishable", "pub"})  # PUBLIC_KEY, STRIPE_PUBLISHABLE_KEY
# secret words glued to a prefix in one-case names: PGPASSWORD, MYSQLPWD, AUTHTOKEN
_GLUED = ("password", "passwd", "passphrase", "secret", "token", "apikey", "pwd")
# `key` is a secret only beside one of these (`API_KEY`, `SecretAccessKey`), or in an env name.
_KEY_QUALIFIERS = frozenset({
    "api", "access", "secret", "private", "signing", "encryption", "master", "client", "app",
    "account", "storage", "license", "licence", "service", "auth", "session", "shared", "webhook",
    "sendgrid", "stripe", "mailgun", "openai", "anthropic", "aws", "gcp", "azure", "hmac", "jwt",
    "crypt", "cipher", "consumer", "developer", "subscription", "admin", "write", "deploy",
})
# A name ending in one of these describes a secret without holding it (`token_url`, `PASSWORD_MIN_LENGTH`).
_DESCRIPTOR_WORDS = frozenset({
    "url", "uri", "urls", "endpoint", "path", "file", "files", "dir", "type", "types", "name",
    "names", "id", "ids", "length", "len", "count", "hash", "hashed", "hasher", "field", "fields",
    "header", "prefix", "suffix", "env", "var", "size", "min", "max", "ttl", "expiry", "expires",
    "expiration", "timeout", "regex", "pattern", "format", "label", "kind", "mode", "policy",
    "required", "enabled", "disabled", "reset", "input", "prompt", "stdin", "error", "errors",
    "message", "manager", "store", "storage", "provider", "helper", "class", "cls", "factory",
    "validator", "strength", "rotation", "version", "scope", "scopes", "budget", "limit",
    "counter", "index", "hint", "location", "source", "encoding", "algorithm", "alg", "method",
    "generator", "fingerprint", "digest", "checksum", "status", "state", "cache", "map", "list",
    "dict", "set", "table", "column", "key_name", "param", "params", "arg", "args", "option",
    "flag", "command", "cmd", "script", "template", "lifetime", "age", "used", "valid", "check",
    "ref", "refs", "reference", "seconds", "secs", "sec", "minutes", "mins", "hours", "days", "ms", "at",
    "methods", "mechanism", "backend", "backends", "handler", "plugin", "module", "service", "server", "host", "port", "user", "username", "email", "login", "account", "owner",
    "encryption", "rules", "rule",
})
_NAME_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _name_parts(name: str) -> list[str]:
    return [part.lower() for part in _NAME_PART.findall(name)]


@functools.lru_cache(maxsize=8192)
def secret_name(name: str, *, env_style: bool = False) -> bool:
    """A name that marks its value as a secret: `DB_PASSWORD`, `apiKey`, `client-secret`,
    `_authToken`; not `token_url`, `password_hash` or `PASSWORD_MIN_LENGTH`. A bare `*_KEY`
    counts only in an env-style assignment (`ENCRYPTION_KEY=…`), not in code (`sort_key = …`)."""
    parts = _name_parts(name)
    last_secret = -1
    for i, part in enumerate(parts):
        if (part in _SECRET_WORDS or (env_style and part.endswith(_GLUED))
                or (part == "key" and (env_style or (i and parts[i - 1] in _KEY_QUALIFIERS)))):
            last_secret = i
    # a describing word after the secret word: ACCESS_TOKEN_TTL_SECONDS, password_hash_algo
    described = any(part in _DESCRIPTOR_WORDS for part in parts[last_secret + 1:])
    return last_secret >= 0 and not described and _PUBLIC.isdisjoint(parts)


_PLACEHOLDER = re.compile(
    r"(?i)\A(?:<[^<>\n]{0,80}>|\*+|x{3,}|\.{2,}|…|-+|_+|null|none|nil|undefined|true|false|stdin|"
    r"your[\w -]{0,40}|my[_-]?(?:password|secret|token|key)|example[\w-]{0,40}|placeholder|dummy|"
    r"redacted|\[redacted[^\]\n]{0,80}\]|\[REDACTED:[\w-]{1,40}\]|changeit|change_?me|replace_?me|todo|fixme|tbd|"
    r"secret|password|token|sk-\.{3}|"
    r"(?:[a-z]{1,20}_){0,5}(?:password|secret|token|key)(?:_here)?|\{\{.{0,200}|\{[\w.]{1,80}\}|"
    r"%\(?[\w.]{0,40}(?:\)s?)?|%\w{1,80}%|#\{.{0,200}|@@\w{1,80}@@|__\w{1,80}__|\[\[.{0,200}|"
    r"![!\w]{0,40}.{0,200}|\*[\w.-]{1,80}|&[\w.-]{1,80}|arn:[\w-]{1,20}:.{0,400}|"  # YAML tags, aliases; ARNs
    r"\$[\w{(].{0,400})\Z"
)


@functools.lru_cache(maxsize=8192)
def is_placeholder(value: str) -> bool:
    """A stand-in, not a value: `<token>`, `***`, `xxxx`, `your-api-key`, `${TOKEN}`, `{{ secrets.X }}`."""
    return bool(_PLACEHOLDER.match(value))


_IDENT = r"[A-Za-z_][A-Za-z0-9_]{0,80}"
_CODE = re.compile(
    rf"\A(?:"
    rf"{_IDENT}(?:\.{_IDENT}){{0,10}}\s{{0,3}}[(\[].{{0,400}}"  # call or subscript: next(tokens), os.environ["X"]
    rf"|{_IDENT}(?:\.{_IDENT}){{1,10}}[,;)\]]?\Z"  # attribute: self.token, settings.SECRET_KEY
    rf"|{_IDENT}(?:\.{_IDENT}){{0,10}}(?:::|\?\.|&\.|->).{{0,400}}"  # Token::new(…), req.headers?.x, $user->password
    rf"|(?:str|bytes|int|bool|float|string|number|boolean|any|dict|list|Optional|Secret\w{{0,20}}|SecretStr)\b.{{0,200}}"
    rf"|(?:await|new|this|self|typeof|lambda|function|os|process|env|config|settings)\b.{{0,400}}"
    rf"|[\[{{(]|f?[\"']?\s*\Z"  # opening a literal or an empty string
    rf")",
    re.DOTALL,
)


@functools.lru_cache(maxsize=8192)
def is_code(value: str) -> bool:
    """An expression rather than a literal: a call, a subscript, an attribute, an annotation."""
    return bool(_CODE.match(value))


_ID_OR_DIGEST = re.compile(
    r"(?i)\A(?:"
    r"[0-9a-f]{7,12}|[0-9a-f]{40}|[0-9a-f]{64}"  # git shas, short and long; sha256 digests
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuids
    r")\Z"
)
# A digest named by its algorithm, or a version or version range: never a secret, whatever the name.
_DIGEST_OR_VERSION = re.compile(
    r"(?i)\A(?:(?:sha(?:1|224|256|384|512)|md5|blake2b?)[:-][A-Za-z0-9+/=_-]{16,200}"
    r"|[~^<>=]{0,2}v?\d{1,8}(?:\.(?:\d{1,8}|[x*])){1,5}(?:[-+.][\w.]{1,40})?)\Z"
)


def is_digest_or_version(value: str) -> bool:
    """`sha256:…`, `sha512-…`, `1.2.3`, `^9.0.2`: content named by its hash, or a release."""
    return bool(_DIGEST_OR_VERSION.match(value))


@functools.lru_cache(maxsize=8192)
def is_id_or_digest(value: str) -> bool:
    """A git sha, uuid, content digest or version: names things, never unlocks them (unless a
    secret's name says otherwise: Consul tokens are uuids)."""
    return bool(_ID_OR_DIGEST.match(value)) or is_digest_or_version(value)


@functools.lru_cache(maxsize=8192)
def looks_random(value: str, *, min_len: int = 16, min_entropy: float = 3.2) -> bool:
    """Long enough and varied enough to be generated rather than typed or spelled."""
    if len(value) < min_len or entropy(value) < min_entropy:
        return False
    has_digit = any(ch.isdigit() for ch in value)
    has_alpha = any(ch.isalpha() for ch in value)
    return (has_digit and has_alpha) or entropy(value) >= 4.0


_WORDISH = re.compile(r"\A[a-z][a-z_-]{0,60}\Z")  # a word, kebab or snake: existingSecret: db-credentials
_IDENTIFIER = re.compile(r"\A[A-Za-z_][A-Za-z_]{0,80}\Z")  # refreshToken, password_input: a variable
_PATHISH = re.compile(r"\A(?:~|\.{1,2})?/[\w.@%+~/-]{0,400}\Z")
_URL_NO_CREDS = re.compile(r"(?i)\A[a-z][a-z0-9+.-]{1,20}://[^\s@]{0,2000}\Z")


@functools.lru_cache(maxsize=8192)
def plausible_value(value: str, *, literal: bool, quoted: bool = False) -> bool:
    """Whether what stands after a secret-naming key could be the secret.

    `literal`: quoted, or in an env file, where even a plain word is a value (`DB_PASSWORD=postgres`);
    otherwise a bare lowercase word is taken for a variable (`password = password`). `quoted`:
    a string literal, never code."""
    value = value.strip()
    if len(value) < (3 if literal else 4) or is_placeholder(value) or is_digest_or_version(value):
        return False
    if _URL_NO_CREDS.match(value) or _PATHISH.match(value):
        return False
    if not quoted and is_code(value):  # SECRET_KEY = env("DJANGO_SECRET_KEY")
        return False
    return literal or not (_WORDISH.match(value) or _IDENTIFIER.match(value) or (value.isdigit() and len(value) < 4))


@functools.lru_cache(maxsize=8192)
def plausible_password(value: str) -> bool:
    """A word in prose after "password is": kept if it reads as a word, taken if it mixes
    letters with digits or symbols, or cases, as chosen passwords do."""
    if len(value) < 4 or is_placeholder(value) or _URL_NO_CREDS.match(value) or _PATHISH.match(value):
        return False
    if value.isalpha() and (value.islower() or value.istitle() or value.isupper()):
        return False
    return not (value.isdigit() and len(value) < 4)
