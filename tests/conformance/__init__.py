"""The OCTT cases and the harness that replays them; the fuzzer."""
