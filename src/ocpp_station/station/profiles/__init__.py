"""One module per OCPP 1.6 feature profile, named as the specification names them."""
