#!/usr/bin/python3
"""Generated survey layers for the overlay speed check (tools/bench_overlay.sh).

refs.gpkg: DLTB = an N x N lattice of jittered quads that tiles a square exactly (N^2 polygons,
50 m cells, DLBM classes and ZLDWDM codes), YJJBNTTB = up to 1,600 non-overlapping blobs, STBHHX = 8 rings of 4,000
vertices each (large polygons, so subdivision is exercised), PZYD = 5,000 dated approvals, XZQ
= four county quadrants. changes.gpkg: M irregular polygons of 10-60 m radius, TBLX typed.
All in CGCS2000 3-degree GK zone 39 (EPSG:4527). Deterministic for a seed.

usage: make_overlay_data.py OUT_DIR [N=1000] [M=100000] [SEED=1]
"""
import math
import os
import random
import sys

from osgeo import ogr, osr

ogr.UseExceptions()
out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
m = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
os.makedirs(out, exist_ok=True)
srs = osr.SpatialReference()
srs.ImportFromEPSG(4527)
X0, Y0, CELL = 39_500_000.0, 3_500_000.0, 50.0
SIDE = n * CELL
CLASSES = ["0101", "0102", "0103", "0201", "0301", "0404", "0702", "1003", "1006", "1101", "1202"]
COUNTIES = ["320581", "320582", "320583", "320584"]


def ring(points):
    r = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in points:
        r.AddPoint_2D(x, y)
    r.AddPoint_2D(*points[0])
    return r


def polygon(points):
    p = ogr.Geometry(ogr.wkbPolygon)
    p.AddGeometry(ring(points))
    return p


def layer(ds, name, fields):
    lyr = ds.CreateLayer(name, srs, ogr.wkbPolygon)
    for f, t in fields:
        lyr.CreateField(ogr.FieldDefn(f, t))
    return lyr


def add(lyr, geom, values):
    f = ogr.Feature(lyr.GetLayerDefn())
    for k, v in values.items():
        f.SetField(k, v)
    f.SetGeometry(geom)
    lyr.CreateFeature(f)


def county_of(x, y):
    return COUNTIES[(x >= X0 + SIDE / 2) + 2 * (y >= Y0 + SIDE / 2)]


def blob(cx, cy, r, k):
    pts = []
    for i in range(k):
        t = 2 * math.pi * i / k
        rr = r * (0.6 + 0.4 * rng.random())
        pts.append((cx + rr * math.cos(t), cy + rr * math.sin(t)))
    return pts


refs = ogr.GetDriverByName("GPKG").CreateDataSource(os.path.join(out, "refs.gpkg"))
# Shared jittered lattice vertices: neighbouring quads share corners, so DLTB tiles the square.
jit = [[(rng.uniform(-12, 12), rng.uniform(-12, 12)) for _ in range(n + 1)] for _ in range(n + 1)]
for row in (0, n):
    jit[row] = [(0.0, 0.0)] * (n + 1)
for row in jit:
    row[0] = row[n] = (0.0, 0.0)


def corner(i, j):
    dx, dy = jit[j][i]
    return (X0 + i * CELL + dx, Y0 + j * CELL + dy)


dltb = layer(refs, "DLTB", [("DLBM", ogr.OFTString), ("ZLDWDM", ogr.OFTString)])
refs.StartTransaction()
for j in range(n):
    for i in range(n):
        pts = [corner(i, j), corner(i + 1, j), corner(i + 1, j + 1), corner(i, j + 1)]
        x, y = X0 + (i + 0.5) * CELL, Y0 + (j + 0.5) * CELL
        add(dltb, polygon(pts), {"DLBM": rng.choice(CLASSES), "ZLDWDM": county_of(x, y) + "100001"})
refs.CommitTransaction()
# Basic farmland: one blob per cell of a 40 x 40 grid over the square, inside its cell, so the
# polygons do not overlap (as in a real YJJBNTTB layer).
pbf = layer(refs, "YJJBNTTB", [("JBNTMJ", ogr.OFTReal)])
refs.StartTransaction()
g40 = SIDE / 40
for j in range(40):
    for i in range(40):
        if rng.random() < 0.6:
            g = polygon(blob(X0 + (i + 0.5) * g40, Y0 + (j + 0.5) * g40, 0.5 * g40, 64))
            add(pbf, g, {"JBNTMJ": g.GetArea()})
refs.CommitTransaction()
red = layer(refs, "STBHHX", [("HXMC", ogr.OFTString)])
refs.StartTransaction()
for k in range(8):
    g = polygon(blob(X0 + rng.uniform(0, SIDE), Y0 + rng.uniform(0, SIDE), SIDE / 12, 4000))
    add(red, g, {"HXMC": "生态保护红线%d" % k})
refs.CommitTransaction()
pzyd = layer(refs, "PZYD", [("PZWH", ogr.OFTString), ("PZRQ", ogr.OFTString)])
refs.StartTransaction()
for k in range(5000):
    x, y = X0 + rng.uniform(0, SIDE), Y0 + rng.uniform(0, SIDE)
    w, h = rng.uniform(30, 200), rng.uniform(30, 200)
    date = "2024-%02d-%02d" % (rng.randint(1, 9), rng.randint(1, 28))
    add(pzyd, polygon([(x, y), (x + w, y), (x + w, y + h), (x, y + h)]), {"PZWH": "批%05d" % k, "PZRQ": date})
refs.CommitTransaction()
xzq = layer(refs, "XZQ", [("XZQDM", ogr.OFTString), ("XZQMC", ogr.OFTString)])
h = SIDE / 2
for k, code in enumerate(COUNTIES):
    x, y = X0 + (k % 2) * h, Y0 + (k // 2) * h
    add(xzq, polygon([(x, y), (x + h, y), (x + h, y + h), (x, y + h)]), {"XZQDM": code, "XZQMC": "县%d" % k})
refs = None

chg = ogr.GetDriverByName("GPKG").CreateDataSource(os.path.join(out, "changes.gpkg"))
lyr = layer(chg, "changes", [("TBLX", ogr.OFTString), ("comp_id", ogr.OFTInteger64)])
chg.StartTransaction()
for k in range(m):
    cx, cy = X0 + rng.uniform(60, SIDE - 60), Y0 + rng.uniform(60, SIDE - 60)
    add(lyr, polygon(blob(cx, cy, rng.uniform(10, 60), 12)), {"TBLX": rng.choice(["20", "DL1", "TL", "GEF", "DT"]), "comp_id": k + 1})
chg.CommitTransaction()
chg = None
with open(os.path.join(out, "job.toml"), "w") as f:
    f.write('''quarter = "2024Q3"
[imagery]
before = "changes.gpkg"
after = "changes.gpkg"
before_date = "2024-04-01"
after_date = "2024-09-20"
[layers.dltb]
path = "refs.gpkg"
[layers.basic_farmland]
path = "refs.gpkg"
[layers.red_line]
path = "refs.gpkg"
name_field = "HXMC"
[layers.approvals]
path = "refs.gpkg"
[layers.counties]
path = "refs.gpkg"
name_field = "XZQMC"
''')
print("wrote", out, "DLTB", n * n, "changes", m)
