"""The control-pilot PWM of IEC 61851-1 Annex A: offered current ↔ duty cycle.

The EVSE tells the EV the maximum current it may draw by the duty cycle of the 1 kHz control-pilot signal
(IEC 61851-1:2017 Table A.7, what the EVSE sends); the EV reads it back by Table A.8 (what the EV may draw).
"""

from __future__ import annotations

import math

MIN_CURRENT_A = 6.0  # Table A.7: the smallest current a PWM can offer
MAX_CURRENT_A = 80.0  # Table A.7: the largest
# Table A.7: 5 % asks for digital (ISO 15118 / DIN 70121) communication instead of a PWM-coded current.
DIGITAL_COMMUNICATION_DUTY_PERCENT = 5.0
# A steady +12 V / no oscillator (100 %) means "no current available" (Table A.7, state x1 / B1).
NOT_AVAILABLE_DUTY_PERCENT = 100.0


def duty_cycle_for_current(amps: float) -> float:
    """The duty cycle (%) an EVSE sends to offer `amps` (Table A.7); 0 A is 100 % (PWM off).

    Table A.7's two ranges do not meet: 51–52.5 A gives 84.4–85 %, which an EV reads by the first range of
    Table A.8 as up to 1.6 A less (the safe side).
    Only 0 and 6..80 A can be coded: a caller with a lower limit must offer 0 (pause), a higher one 80 A.
    """
    if not math.isfinite(amps) or amps < 0:
        raise ValueError(f"offered current must be a non-negative number of amperes, got {amps}")
    if amps == 0:
        return NOT_AVAILABLE_DUTY_PERCENT
    if amps < MIN_CURRENT_A or amps > MAX_CURRENT_A:
        raise ValueError(f"IEC 61851-1 can offer 0 or {MIN_CURRENT_A:g}..{MAX_CURRENT_A:g} A, got {amps} A")
    if amps <= 51.0:
        return amps / 0.6  # 10 %..85 %: I = D × 0.6 A
    return amps / 2.5 + 64.0  # 85 %..96 %: I = (D − 64) × 2.5 A


def current_for_duty_cycle(duty_percent: float) -> float | None:
    """The current (A) an EV may draw at `duty_percent` (Table A.8); None where charging is not allowed or
    digital communication is required."""
    d = duty_percent
    if not math.isfinite(d) or d < 8.0 or d > 97.0:
        return None  # < 3 %, 3–7 % (digital communication), 7–8 % and > 97 %: no PWM-coded current
    if d < 10.0:
        return 6.0
    if d <= 85.0:
        return d * 0.6
    if d <= 96.0:
        return (d - 64.0) * 2.5
    return 80.0
