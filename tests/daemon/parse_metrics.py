#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Reads pnsync's golden /metrics body with the Prometheus Python client's own text parser, an
# implementation independent of ours: if it parses, escapes and types mean what we meant.
# Run by ctest (service:metrics_golden_parses); Debian's python3-prometheus-client, hence /usr/bin/python3.
import sys

from prometheus_client.parser import text_string_to_metric_families

with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()

families = {family.name: family for family in text_string_to_metric_families(text)}

def sample(family, name, **labels):
    for s in families[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    sys.exit(f"no sample {name}{labels} in family {family}")

# The client strips _total from a counter's family name and keeps it on the samples.
assert families["pnsync_fetched_bytes"].type == "counter", families["pnsync_fetched_bytes"].type
assert families["pnsync_request_latency_seconds"].type == "histogram"
assert sample("pnsync_fetched_bytes", "pnsync_fetched_bytes_total",
              mirror="mimic-cxr/2.0.0") == 5368709120
assert sample("pnsync_retries", "pnsync_retries_total", reason="server_error") == 2
assert sample("pnsync_request_latency_seconds", "pnsync_request_latency_seconds_bucket",
              le="+Inf") == 6
# The escaped dest label reads back to the original bytes: quote, backslash, newline.
assert sample("pnsync_mirror_info", "pnsync_mirror_info",
              dest='/srv/physionet/"cxr"\\2.0.0\nnew') == 1
print(f"parsed {len(families)} families, {sum(len(f.samples) for f in families.values())} samples")
