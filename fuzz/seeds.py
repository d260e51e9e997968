#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/<target>/) from real oneM2M primitives.

Run from anywhere: python3 fuzz/seeds.py. The files are committed; libFuzzer
grows its own corpus from them in a scratch directory (fuzz/run.sh)."""
import json, os, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
NS = 'xmlns:m2m="http://www.onem2m.org/xml/protocols"'

REQUESTS = [
    {"op": 1, "to": "cse-in", "fr": "Cmyapp", "rqi": "r1", "rvi": "3", "ty": 2,
     "pc": {"m2m:ae": {"rn": "myapp", "api": "Nmyapp", "rr": True, "srv": ["3"],
                       "poa": ["mqtt://127.0.0.1:1883"]}}},
    {"op": 1, "to": "cse-in/myapp", "fr": "Cmyapp", "rqi": "r2", "rvi": "3", "ty": 3,
     "pc": {"m2m:cnt": {"rn": "temp", "mni": 100, "lbl": ["air/no2", "station/centre"]}}},
    {"op": 1, "to": "cse-in/myapp/temp", "fr": "Cmyapp", "rqi": "r3", "rvi": "3", "ty": 4,
     "pc": {"m2m:cin": {"cnf": "application/json:0", "con": {"v": 21.5, "t": "20260115T120000"}}}},
    {"op": 2, "to": "cse-in/myapp/temp/la", "fr": "Cmyapp", "rqi": "r4", "rvi": "3"},
    {"op": 2, "to": "cse-in", "fr": "CAdmin", "rqi": "r5", "rvi": "3", "rcn": 4,
     "fc": {"fu": 1, "ty": [3], "lbl": ["air/no2"], "lim": 100, "ofst": 1}},
    {"op": 3, "to": "cse-in/myapp/temp", "fr": "Cmyapp", "rqi": "r6", "rvi": "3",
     "pc": {"m2m:cnt": {"mni": 10, "lbl": None}}},
    {"op": 4, "to": "/id-in/cnt0001", "fr": "Cmyapp", "rqi": "r7", "rvi": "3",
     "rqet": "20261201T000000", "rt": {"rtv": 1}},
    {"op": 1, "to": "cse-in/myapp/temp", "fr": "Cmyapp", "rqi": "r8", "rvi": "3", "ty": 23,
     "pc": {"m2m:sub": {"rn": "s", "nu": ["Cmyapp"], "enc": {"net": [1, 3]}, "nct": 1}}},
    {"op": 5, "to": "Cmyapp", "fr": "/id-in", "rqi": "r9", "rvi": "3",
     "pc": {"m2m:sgn": {"nev": {"rep": {"m2m:cin": {"rn": "i", "con": "42"}}, "net": 3},
                        "sur": "/id-in/sub1"}}},
    {"m2m:rqp": {"op": 1, "to": "//example.net/cse-in", "fr": "S", "rqi": "r10", "rvi": "4",
                 "ty": 14, "pc": {"m2m:nod": {"rn": "meter-001", "ni": "meter-001"}}}},
    {"op": 2, "to": "cse-in/myapp?rcn=1", "fr": "Cmyapp", "rqi": "r11", "rvi": "2a", "drt": 1,
     "ec": 2, "rset": "PT5S"},
]
RESPONSES = [
    {"rsc": 2001, "rqi": "r1", "rvi": "3", "pc": {"m2m:ae": {"rn": "myapp", "ri": "CAE1",
     "aei": "Cmyapp", "ct": "20260115T120000"}}},
    {"rsc": 2000, "rqi": "r5", "pc": {"m2m:uril": ["cse-in/a/b", "cse-in/c"]}},
    {"rsc": 4004, "rqi": "r4", "pc": {"m2m:dbg": "resource does not exist"}},
    {"m2m:rsp": {"rsc": 2002, "rqi": "r7", "to": "Cmyapp", "fr": "/id-in", "ot": "20260115T120000"}},
]

def cbor(v):
    def head(major, n):
        if n < 24: return bytes([major << 5 | n])
        for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
            if n < 1 << (8 * struct.calcsize(fmt)):
                return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    if v is None: return b"\xf6"
    if v is True: return b"\xf5"
    if v is False: return b"\xf4"
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, float): return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode(); return head(3, len(b)) + b
    if isinstance(v, list): return head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(v)

def xml_value(name, v):
    if isinstance(v, dict):
        attrs = f' rn="{v["rn"]}"' if "rn" in v and name.startswith("m2m:") else ""
        inner = "".join(xml_value(k, x) for k, x in v.items()
                        if not (k == "rn" and attrs))
        return f"<{name}{attrs}>{inner}</{name}>"
    if isinstance(v, list):
        return f"<{name}>{' '.join(str(x) for x in v)}</{name}>"
    if v is None: return f"<{name}/>"
    if isinstance(v, bool): v = "true" if v else "false"
    text = str(v).replace("&", "&amp;").replace("<", "&lt;")
    return f"<{name}>{text}</{name}>"

def xml_primitive(p, root):
    p = p.get(root, p)
    inner = "".join(xml_value(k, v) for k, v in p.items())
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} {NS}>{inner}</{root}>'

def write(target, name, data):
    d = os.path.join(ROOT, target); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

for i, p in enumerate(REQUESTS + RESPONSES):
    kind = "rsp" if "rsc" in p or "m2m:rsp" in p else "rqp"
    j = json.dumps(p).encode()
    write("json", f"{kind}-{i:02}.json", j)
    write("json", f"{kind}-{i:02}-pc.json", json.dumps(p.get("pc", {})).encode())
    write("cbor", f"{kind}-{i:02}.cbor", cbor(p))
    x = xml_primitive(p, f"m2m:{kind}")
    write("xml", f"{kind}-{i:02}.xml", x)
    # primitive: first byte 0 JSON, 1 CBOR, 2 XML
    write("primitive", f"{kind}-{i:02}-json", b"\x00" + j)
    write("primitive", f"{kind}-{i:02}-cbor", b"\x01" + cbor(p))
    write("primitive", f"{kind}-{i:02}-xml", b"\x02" + x.encode())
for name, text in [
    ("cin.xml", f'<m2m:cin {NS} rn="x"><cnf>text/plain:0</cnf><con>42</con></m2m:cin>'),
    ("acp.xml", f'<m2m:acp {NS} rn="a"><pv><acr><acor>Cae CAdmin</acor><acop>63</acop></acr></pv>'
                f'<pvs><acr><acor>CAdmin</acor><acop>63</acop></acr></pvs></m2m:acp>'),
    ("sub.xml", f'<m2m:sub {NS}><enc><net>1 3</net></enc><nu>Cae</nu></m2m:sub>'),
    ("rce.xml", f'<m2m:rce {NS}><m2m:cnt rn="box"><ty>3</ty></m2m:cnt><uri>cse-in/app/box</uri></m2m:rce>'),
    ("uril.xml", f'<m2m:uril {NS}>cse-in/a cse-in/b</m2m:uril>'),
]:
    write("xml", name, text)

# HTTP: method selector, request line target, headers, blank line, body
HTTP = [
    (1, "/cse-in?rcn=1", {"X-M2M-Origin": "Cmyapp", "X-M2M-RI": "r1", "X-M2M-RVI": "3",
     "Content-Type": "application/json;ty=2", "Accept": "application/json"}, REQUESTS[0]["pc"]),
    (1, "/cse-in/myapp/temp", {"X-M2M-Origin": "Cmyapp", "X-M2M-RI": "r3", "X-M2M-RVI": "3",
     "Content-Type": "application/json;ty=4"}, REQUESTS[2]["pc"]),
    (0, "/cse-in?fu=1&ty=3&lbl=air%2Fno2&lim=100&ofst=1", {"X-M2M-Origin": "CAdmin",
     "X-M2M-RI": "r5", "X-M2M-RVI": "3", "Accept": "application/vnd.onem2m-res+xml"}, None),
    (0, "/~/id-in/cnt0001/la?rcn=4&drt=1", {"X-M2M-Origin": "Cmyapp", "X-M2M-RI": "r4",
     "X-M2M-RVI": "3", "X-M2M-RTU": "mqtt://h:1883", "X-M2M-RET": "20261201T000000"}, None),
    (2, "/cse-in/myapp/temp", {"X-M2M-Origin": "Cmyapp", "X-M2M-RI": "r6", "X-M2M-RVI": "3",
     "Content-Type": "application/cbor"}, REQUESTS[5]["pc"]),
    (3, "/_/example.net/cse-in/myapp", {"X-M2M-Origin": "Cmyapp", "X-M2M-RI": "r7",
     "X-M2M-RVI": "3", "X-M2M-EC": "2"}, None),
    (1, "/Cmyapp", {"X-M2M-Origin": "/id-in", "X-M2M-RI": "r9", "X-M2M-RVI": "3",
     "Content-Type": "application/xml"}, None),
]
for i, (m, target, headers, body) in enumerate(HTTP):
    head = target + "\n" + "".join(f"{k}: {v}\n" for k, v in headers.items()) + "\n"
    ct = headers.get("Content-Type", "")
    b = b""
    if body is not None:
        b = cbor(body) if "cbor" in ct else json.dumps(body).encode()
    if "xml" in ct:
        b = f'<m2m:sgn {NS}><sur>/id-in/sub1</sur></m2m:sgn>'.encode()
    write("http_request", f"req-{i:02}", bytes([m]) + head.encode() + b)

for i, t in enumerate([
    "/oneM2M/req/Cmyapp/id-in/json", "/oneM2M/req/Cmyapp/id-in/cbor",
    "/oneM2M/req/Cmyapp/id-in/xml", "/oneM2M/reg_req/Cnew/id-in/json",
    "/oneM2M/req/id-in:CAdmin/id-in/json", "/oneM2M/resp/id-in/Cmyapp/json",
    "/oneM2M/req/Cmyapp/example.net:id-in/json", "/oneM2M/req//id-in/json",
]):
    write("mqtt_topic", f"topic-{i:02}", t)

def coap(code, mid, token, options, payload=b"", ty=0):
    out = bytes([0x40 | ty << 4 | len(token), code]) + struct.pack(">H", mid) + token
    last = 0
    for num, val in sorted(options, key=lambda o: o[0]):
        delta, length = num - last, len(val)
        def nib(n):
            if n < 13: return n, b""
            if n < 269: return 13, bytes([n - 13])
            return 14, struct.pack(">H", n - 269)
        dn, de = nib(delta); ln, le = nib(length)
        out += bytes([dn << 4 | ln]) + de + le + val
        last = num
    if payload: out += b"\xff" + payload
    return out

def u(n): return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big") if n else b""
def path(p): return [(11, s.encode()) for s in p.split("/")]
# oneM2M option numbers of TS-0008 V3.7+ (crates/coap/src/options.rs);
# 12 Content-Format, 15 Uri-Query, 17 Accept, 27 Block1
OPT = {"FR": 279, "RQI": 283, "RVI": 271, "TY": 267, "RQET": 291, "EC": 303}
CO = [
    coap(2, 1, b"\x01", path("cse-in") + [(12, u(50)), (OPT["FR"], b"Cmyapp"), (OPT["RQI"], b"r1"),
         (OPT["RVI"], b"3"), (OPT["TY"], u(2))], json.dumps(REQUESTS[0]["pc"]).encode()),
    coap(2, 2, b"\x02\x03", path("cse-in/myapp/temp") + [(12, u(60)), (OPT["FR"], b"Cmyapp"),
         (OPT["RQI"], b"r3"), (OPT["RVI"], b"3"), (OPT["TY"], u(4))], cbor(REQUESTS[2]["pc"])),
    coap(1, 3, b"", path("cse-in") + [(15, b"fu=1"), (15, b"ty=3"), (15, b"lbl=air/no2"),
         (17, u(50)), (OPT["FR"], b"CAdmin"), (OPT["RQI"], b"r5"), (OPT["RVI"], b"3")]),
    coap(1, 4, b"\x09", path("cse-in/myapp/temp/la") + [(OPT["FR"], b"Cmyapp"),
         (OPT["RQI"], b"r4"), (OPT["RVI"], b"3"), (OPT["RQET"], b"20261201T000000")], ty=1),
    coap(3, 5, b"\x0a", path("cse-in/myapp/temp") + [(12, u(50)), (OPT["FR"], b"Cmyapp"),
         (OPT["RQI"], b"r6"), (OPT["RVI"], b"3")], json.dumps(REQUESTS[5]["pc"]).encode()),
    coap(4, 6, b"\x0b", path("cse-in/myapp") + [(OPT["FR"], b"Cmyapp"), (OPT["RQI"], b"r7"),
         (OPT["RVI"], b"3")]),
    coap(2, 7, b"\x0c", path("cse-in/myapp/temp") + [(12, u(50)), (27, u(0x16)),
         (OPT["FR"], b"Cmyapp"), (OPT["RQI"], b"r8"), (OPT["RVI"], b"3"), (OPT["TY"], u(4))],
         b'{"m2m:cin":{"con":"1234567890123456"}}'),
]
for i, d in enumerate(CO):
    write("coap_request", f"coap-{i:02}", d)
