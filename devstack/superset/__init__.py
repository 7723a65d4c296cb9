"""Superset's pins (requirements.txt) and the dashboard bundle builder (bundle.py)."""
