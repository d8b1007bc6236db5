"""Schema-aware fuzzing of the station's OCPP-J side: `python -m ocpp_station.fuzz --frames 100000`.

`strategies` builds hypothesis strategies from the official OCPP 1.6 JSON schemas and the OCPP-J framing
rules; `runner` sends them to a real station in this process and checks every answer. Needs the dev extra
(hypothesis).
"""
