#!/usr/bin/env python3
"""Writes X.tshark.jsonl, the ground truth of a VXLAN capture, from tshark's
own dissection (vxlan on UDP 4789, then HTTP), in the corpus's format plus
each exchange's VNI. Run: python3 truth.py vxlan-encapsulated-http.pcap"""
import json, subprocess, sys

f = sys.argv[1]
fields = ["frame.number", "vxlan.vni", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport", "tcp.stream",
          "http.request.method", "http.request.uri", "http.request.version", "http.host",
          "http.response.code", "http.response.version", "http.content_type",
          "http.content_length_header", "http.content_encoding", "http.request_in", "tcp.len"]
cmd = ["tshark", "-r", f, "-Y", "http", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=l"]
for x in fields:
    cmd += ["-e", x]
rows = [dict(zip(fields, l.split("\t"))) for l in subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()]
version = subprocess.run(["tshark", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
reqs = {r["frame.number"]: r for r in rows if r["http.request.method"]}
out = []
def n(v):
    return int(v) if v else None
for r in rows:
    if not r["http.response.code"]:
        continue
    q = reqs.pop(r["http.request_in"])
    body = n(r["http.content_length_header"]) or 0
    out.append({"kind": "http1", "vni": int(q["vxlan.vni"]), "tcp_stream": int(q["tcp.stream"]),
                "client": f'{q["ip.src"]}:{q["tcp.srcport"]}', "server": f'{q["ip.dst"]}:{q["tcp.dstport"]}',
                "method": q["http.request.method"], "uri": q["http.request.uri"], "version": q["http.request.version"],
                "host": q["http.host"], "req_body_len": 0, "req_body_len_decoded": 0, "req_content_encoding": None,
                "status": int(r["http.response.code"]), "resp_version": r["http.response.version"],
                "resp_content_type": r["http.content_type"] or None, "resp_content_length_hdr": n(r["http.content_length_header"]),
                "resp_content_encoding": r["http.content_encoding"] or None, "resp_body_len": body, "resp_body_len_decoded": body,
                "complete": True})
for q in reqs.values():
    out.append({"kind": "http1", "vni": int(q["vxlan.vni"]), "method": q["http.request.method"], "uri": q["http.request.uri"], "complete": False})
out.append({"kind": "summary", "file": f, "tshark_version": version, "http1_complete_pairs": sum(1 for o in out if o.get("complete"))})
with open(f + ".tshark.jsonl", "w") as w:
    for o in out:
        w.write(json.dumps(o) + "\n")
