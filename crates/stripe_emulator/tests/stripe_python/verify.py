"""Verifies one delivered webhook with stripe-python's own verifier: python3 verify.py <payload file> <header> <secret>."""
import sys

import stripe

payload = open(sys.argv[1], "rb").read().decode("utf-8")
event = stripe.Webhook.construct_event(payload, sys.argv[2], sys.argv[3])
print(event.type)
