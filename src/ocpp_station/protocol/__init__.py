"""OCPP-J 1.6 framing and the official message schemas: pure, shared by the station and the tools."""
