#!/usr/bin/env python3
"""End to end with a real WeChat client library (issue 21): against a running
`tailor serve` on loopback, with wechatpy (1.8.18) doing WeChat's side.

For one account (plain or safe mode) it
  1. builds an ENTER event, signs it (and in safe mode encrypts it) with wechatpy,
     and posts it as WeChat would;
  2. decrypts (safe mode) and parses the news reply with wechatpy;
  3. checks every item URL is a tracked link under the account's track_base;
  4. follows one tracked link (mapping track_base to /t/ as the reverse proxy would):
     302 to the article;
  5. checks through the admin API that the open is in the reader's history and that the
     profile changed as `learn on open` says (section_reads, read_tags, last_read);
  6. opens it again: recorded, but nothing learned twice;
  7. a forged token (one character changed) gets 404 and records nothing;
  8. /v1/{account}/stats counts the item's opens once;
and writes the reader's history (JSON lines, delivery and open records) and the stats
to --out, for the caller to run `tailor stats` on the same history.

Exit status 0 when every check held; otherwise the first failed check is printed.
"""

import argparse
import http.client
import json
import os
import sys
import urllib.parse

import wechatpy
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import ArticlesReply, deserialize_reply
from wechatpy.utils import WeChatSigner
import xmltodict


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


class Server:
    def __init__(self, base, admin):
        parsed = urllib.parse.urlsplit(base)
        self.host = parsed.hostname
        self.port = parsed.port
        self.admin = admin

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def api(self, path):
        status, _, data = self.request(
            "GET", path, headers={"Authorization": f"Bearer {self.admin}"}
        )
        check(status == 200, f"GET {path}: {status} {data[:300]!r}")
        return json.loads(data)


def signature(*parts):
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def enter_xml(user, timestamp):
    return (
        "<xml><ToUserName><![CDATA[gh_e2e]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[ENTER]]></Event></xml>"
    )


def post_enter(server, args):
    """Posts a signed ENTER; returns the news reply as wechatpy parses it."""
    timestamp = str(args.timestamp)
    nonce = "e2enonce"
    xml = enter_xml(args.user, timestamp)
    # What we send is a message wechatpy itself reads (1.8.18 has no class of its own for
    # the enter-conversation event: it reads it as an unknown message from the reader).
    parsed = wechatpy.parse_message(xml)
    check(parsed.source == args.user and parsed.target == "gh_e2e", f"wechatpy reads {parsed}")
    query = {
        "signature": signature(args.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": args.user,
    }
    crypto = None
    if args.mode == "safe":
        crypto = WeChatCrypto(args.token, args.aes_key, args.app_id)
        body = crypto.encrypt_message(xml, nonce, timestamp)
        query["encrypt_type"] = "aes"
        query["msg_signature"] = xmltodict.parse(body)["xml"]["MsgSignature"]
    else:
        body = xml
    path = f"/wechat/{args.account}?{urllib.parse.urlencode(query)}"
    status, _, data = server.request(
        "POST", path, body=body.encode("utf-8"), headers={"Content-Type": "text/xml"}
    )
    check(status == 200, f"POST {path}: {status} {data[:300]!r}")
    text = data.decode("utf-8")
    if crypto is not None:
        envelope = xmltodict.parse(text)["xml"]
        # The reply's own signature, over its own timestamp and nonce, checked by wechatpy.
        text = crypto.decrypt_message(
            text, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
        )
        if isinstance(text, bytes):
            text = text.decode("utf-8")
    reply = deserialize_reply(text)
    check(isinstance(reply, ArticlesReply), f"not a news reply: {text[:300]}")
    check(reply.target == args.user, f"the reply goes to {reply.target}, not {args.user}")
    return reply


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="http://127.0.0.1:PORT of tailor serve")
    ap.add_argument("--admin", required=True)
    ap.add_argument("--account", required=True)
    ap.add_argument("--mode", choices=["plain", "safe"], required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--aes-key")
    ap.add_argument("--app-id")
    ap.add_argument("--track-base", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--timestamp", type=int, required=True, help="the server clock, Unix seconds")
    ap.add_argument("--out", required=True, help="directory for history.jsonl and stats.json")
    args = ap.parse_args()
    server = Server(args.base, args.admin)

    reply = post_enter(server, args)
    articles = reply.articles
    check(len(articles) > 0, "no articles")
    prefix = args.track_base.rstrip("/") + "/"
    for a in articles:
        check(a["url"].startswith(prefix), f"not a tracked link: {a['url']}")

    history = server.api(f"/v1/{args.account}/users/{args.user}/history")
    check(len(history["deliveries"]) == 1, f"deliveries: {history}")
    check(history["opens"] == [], f"opens before any: {history['opens']}")
    item = history["deliveries"][0]["items"][0]
    before = server.api(f"/v1/{args.account}/profiles/{args.user}")
    section = item["section"]
    reads_before = (before.get("section_reads") or {}).get(section, 0)

    # The reverse proxy's mapping: {track_base}/{token} -> /t/{token}.
    token = articles[0]["url"][len(prefix):]
    status, headers, _ = server.request("GET", f"/t/{token}")
    check(status == 302, f"/t/: {status}")
    check(headers.get("location") == item["url"], f"redirects to {headers}, not {item['url']}")
    check(item["url"].startswith("https://example.com/"), f"the article: {item['url']}")

    history = server.api(f"/v1/{args.account}/users/{args.user}/history")
    opens = history["opens"]
    check(len(opens) == 1, f"opens: {opens}")
    o = opens[0]
    check(o["event"] == "open" and o["block"] == item["id"] and o["rule"] == item["rule"]
          and o["section"] == section and o["delivered"] == history["deliveries"][0]["at"],
          f"the open record {o} does not name {item}")
    after = server.api(f"/v1/{args.account}/profiles/{args.user}")
    check(after.get("section_reads", {}).get(section) == reads_before + 1,
          f"section_reads: {after.get('section_reads')} (before: {reads_before})")
    check("last_read" in after, f"no last_read in {after}")

    # Again: recorded, not learned twice.
    status, _, _ = server.request("GET", f"/t/{token}")
    check(status == 302, f"second open: {status}")
    again = server.api(f"/v1/{args.account}/profiles/{args.user}")
    check(again == after, f"the second open changed the profile: {again} vs {after}")
    check(len(server.api(f"/v1/{args.account}/users/{args.user}/history")["opens"]) == 2,
          "the second open is not recorded")

    # A forged token: one character changed.
    forged = ("A" if token[5] != "A" else "B").join([token[:5], token[6:]])
    status, headers, _ = server.request("GET", f"/t/{forged}")
    check(status == 404, f"forged token: {status}")
    check("location" not in headers, "a forged token redirected")
    history = server.api(f"/v1/{args.account}/users/{args.user}/history")
    check(len(history["opens"]) == 2, f"a forged token was recorded: {history['opens']}")
    check(server.api(f"/v1/{args.account}/profiles/{args.user}") == after,
          "a forged token changed the profile")

    stats = server.api(f"/v1/{args.account}/stats")
    row = next((r for r in stats["rules"] if r["rule"] == item["rule"]), None)
    check(row is not None and row["opens"] == 1, f"stats for {item['rule']}: {row}")

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "history.jsonl"), "w", encoding="utf-8") as f:
        for record in history["deliveries"] + history["opens"]:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(os.path.join(args.out, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, ensure_ascii=False)
    print(f"ok: {args.mode} mode, {len(articles)} tracked articles, "
          f"opened {item['id']} ({item['rule']}), 302 to {item['url']}")


if __name__ == "__main__":
    main()
