"""Findings of a hostile review of the rules, kept as regressions: secrets in the shapes real
tools print (long STS tokens, cookies, CSV key downloads, annotated settings, name/value
manifests, passwords with `@` in URLs), and code that names secrets without holding them
(header builders, comparisons, manifests' versions, templates, YAML tags, cache keys)."""

from __future__ import annotations

import pytest

from prtrace_core.redact import Redactor
from tests.core.test_redact import _split

STS = "IQoJb3JpZ2luX2Vj" + "AbCd1234EfGh5678" * 50  # longer than any other value a rule reads

LEAKS = [
    f'"SessionToken": "⟦{STS}⟧"',
    f'export AWS_SESSION_TOKEN="⟦{STS}⟧"',
    '{"stdout": "Logged in\\n⟦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⟧\\n"}',
    "next=%2Fcb%3Ftoken%3D⟦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⟧",
    "curl 'https://app.example.com/api' -H 'cookie: sessionid=⟦riVwaWHpkAC1o8Fj8sNuvWXoaBmBaV35kytn0Cdq⟧'",
    "Cookie: PHPSESSID=⟦9a5cv4ek15g34bjsbdrlehgidy⟧",
    "AWS Access Key ID [None]: ⟦AKIAJQ2CZB6HVF4TXNMA⟧\nAWS Secret Access Key [None]: ⟦AnxzKND7eFjCi6eR3avygQMujyx5ulMETJLn7ojB⟧",
    "    api_key: str = '⟦oQVEbh7tpxbcdl5ZOmCcQukk51zAGXhMuZ0pGGPl⟧'",
    'const API_TOKEN: &str = "⟦AC3NnivJQhy6xHtEWzBRpuLFIKfzq6UHedwNQGYz⟧";',
    "app.config['SECRET_KEY'] = '⟦riVwaWHpkAC1o8Fj8sNuvWXoaBmBaV35⟧'",
    "os.environ['DB_PASSWORD'] = '⟦QrHLwHLfiVL384vn⟧'",
    "define('DB_PASSWORD', '⟦DG7pJvZh9Nf^-z8n⟧');",
    'req.Header.Set("X-Api-Key", "⟦SICIzSPeLnxa5YV8NXbw17zU2jbxPyNK0ei55Ofb⟧")',
    "api_token: ⟦a94c980122476c91c82167d99db062e8713200ba⟧",
    "curl -H 'X-Consul-Token: ⟦c23acb0d-8948-4ca9-b828-9143ee1dd806⟧' http://consul:8500/v1/kv",
    "- name: DB_PASSWORD\n  value: ⟦QVQ2jxC7d_3XtJsv⟧",
    '{"name": "DB_PASSWORD", "value": "⟦QVQ2jxC7d_3XtJsv⟧"}',
    "<password>⟦2bnekxUDg8L4i4mS⟧</password>",
    "mysql -u root -p'⟦exOW.9jyPEyRdo6h⟧' app",
    "curl -uadmin:⟦vpU8WLAnsw^!iL0F⟧ https://x",
    "http -a admin:⟦Ig#a8ABzex7-i0dh⟧ GET https://api.acme.io/me",
    "echo '⟦QVQ2j=C*d_=XtJsv⟧' | sudo -S whoami",
    "machine github.com login octo password ⟦hPV8CG1E7^*UCXST⟧",
    "sqlplus system/⟦Qz-go7aEIzi4G4CL⟧@//db:1521/ORCL",
    "poetry config http-basic.acme admin ⟦jlcC%JgU8FJw0#Ew⟧",
    "postgres://app:⟦P@ssw0rd2024⟧@db.internal:5432/app",
    "redis://:⟦iUdp3vtgzcmIQdu9fxxHnZceSYhGCTTwxRJy0/PP⟧@cache:6379/0",
    "git clone https://oauth2:⟦EKjHj#8kZjYa3d⟧@gitlab.com/acme/app.git",
    '"dep": "git+https://⟦a94c980122476c91c82167d99db062e8713200ba⟧:x-oauth-basic@github.com/acme/pkg.git"',
    "DB_PASSWORD=⟦Xy7,kP9q,zZ3w⟧",
    "password: ⟦Xy7;kP9q;zZ3w⟧",
    "spring.datasource.password = ⟦tiger⟧",
    'password = b"⟦jCN*QP*fOm3W9Jz%⟧"',
    "PASSWORD = '''⟦Q^iv1E%3osEvXWD.⟧'''",
    "CREATE USER 'app'@'%' IDENTIFIED BY '⟦rLI6f^4JTs_6csek⟧';",
    "db.changeUserPassword('app', '⟦exOW.9jyPEyRdo6h⟧')",
    "changed the db password to ⟦R1+7*niEVI3bd1J^⟧",
    "creds: admin/⟦Q0A31VtKu^hHDar7⟧",
    "- **API key**: `⟦visCNly5931QLr8TcJVx8vOrLv5XlDBBm0vRkyJh⟧`",
    "Passwort: ⟦4qy*vuMnNbK%ZB8d⟧",
    "Generated password for user 'admin': ⟦cZ2JJBt2ZgtSl.N⟧!",
    "vault login ⟦s.7RqHh4Yjz5TfCOFCoZNkxnTx⟧",
]

KEPT = [
    'headers = {"Authorization": "Bearer " + token}',
    "'Authorization': self._auth_header(),",
    "const headers = { Authorization: `Bearer ${token}` };",
    'authorization = request.headers.get("Authorization")',
    "    password=password_input,",
    "token = refreshToken",
    "if token == expected_token:",
    'assert token == "abc"',
    "let token = Token::new(raw);",
    "$password = Hash::make($input['password']);",
    "const token = req.headers.authorization?.split(' ')[1];",
    '"jsonwebtoken": "^9.0.2",',
    '"next-auth": "^4.24.5",',
    'google-auth = "^2.23.0"',
    'export GITHUB_TOKEN="$(gh auth token)"',
    "TOKEN=`cat /run/secrets/token`",
    "api_key: !secret api_key",
    "password: *db_password",
    "password = %(db_password)s",
    'token: "%TOKEN%"',
    "Cache restored from key: node-cache-Linux-x64-npm-2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
    "Enter passphrase for key '/home/dev/.ssh/id_ed25519':",
    "S3 key: uploads/2024/05/avatar-42.png",
    "auth:\n  existingSecret: postgres-credentials",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
    "'password' => 'required|string|min:8|confirmed',",
    'PUBLIC_KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"',
    "gcloud secrets versions access latest --secret=db-password",
    "printf '%s' x | openssl enc -d -pass stdin",
]


@pytest.mark.parametrize("marked", LEAKS, ids=lambda v: v[:40])
def test_review_leak_is_closed(marked: str) -> None:
    text, secrets = _split(marked)
    out = Redactor().text(text)
    for secret in secrets:
        assert secret not in out and secret[: len(secret) // 2 + 1] not in out, out


@pytest.mark.parametrize("text", KEPT, ids=lambda v: v[:40])
def test_review_look_alike_is_kept(text: str) -> None:
    assert Redactor().text(text) == text
