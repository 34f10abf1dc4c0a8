#!/usr/bin/env python3
"""Writes src/param_table.json, the parameters each Stripe endpoint accepts, from Stripe's OpenAPI spec.

Usage: python3 tools/params_from_spec.py [spec.json.gz] (default: ../../../shared/stripe/spec3.2023-08-16.json.gz
relative to this file, i.e. the workspace's shared/ beside the repository).

Each endpoint is keyed "METHOD /v1/path/{param}" and maps each top-level parameter (form body for POST and
DELETE, query string for GET) to what the emulator checks cheaply:
  type       the JSON types it may take: string, integer, number, boolean, object, array
  required   true when the spec requires it
  enum       the values a string parameter may take, when the spec lists them
  keys       for an object with fixed properties, its sub-keys (absent: free-form, like metadata)
  item_keys  for a list of objects, the keys of one item
  emptiable  true when "" is accepted (the spec's way to unset a parameter)

NEWER_THAN_SPEC below adds (or replaces) what Stripe documents since the spec's version and clients send;
it is written out as its own section, "newer_than_spec", so it stays visible and small.
"""
import gzip
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SPEC = os.path.join(HERE, "..", "..", "..", "..", "shared", "stripe", "spec3.2023-08-16.json.gz")
OUT = os.path.join(HERE, "..", "src", "param_table.json")

# Parameters Stripe documents after 2023-08-16 that the official libraries send, by endpoint. Each entry
# replaces the spec's entry for that parameter (so a parameter can also stop being required); None removes a
# parameter the emulator's API version no longer takes.
DISCOUNTS = {"type": ["array"], "item_keys": ["coupon", "discount", "promotion_code"], "emptiable": True}
NEWER_THAN_SPEC = {
    "POST /v1/promotion_codes": {
        # 2025-09-30.clover: https://docs.stripe.com/changelog/clover/2025-09-30/polymorphic-coupon
        # Requests pinned to an older version still send the top-level coupon, no longer required.
        "promotion": {"type": ["object"], "keys": ["coupon", "type"]},
        "coupon": {"type": ["string"]},
    },
    "POST /v1/webhook_endpoints": {
        # Any version Stripe has released since; the emulator checks its shape.
        "api_version": {"type": ["string"]},
    },
    "POST /v1/checkout/sessions": {
        # https://docs.stripe.com/api/checkout/sessions/create#create_checkout_session-ui_mode
        # Renamed in 2026-03-25.dahlia (hosted -> hosted_page, embedded -> embedded_page, custom -> elements):
        # https://docs.stripe.com/changelog/dahlia/2026-03-25/updates-available-checkout-session-ui-modes
        "ui_mode": {"type": ["string"], "enum": ["elements", "embedded_page", "form", "hosted_page"]},
        "return_url": {"type": ["string"]},
        "redirect_on_completion": {"type": ["string"], "enum": ["always", "if_required", "never"]},
        # Optional since embedded sessions (they use return_url instead).
        "success_url": {"type": ["string"]},
        "saved_payment_method_options": {"type": ["object"], "keys": ["allow_redisplay_filters", "payment_method_save"]},
        "payment_method_configuration": {"type": ["string"]},
        "billing_address_collection": {"type": ["string"], "enum": ["auto", "required"]},
    },
    "POST /v1/accounts": {
        # https://docs.stripe.com/api/accounts/create#create_account-controller
        "controller": {
            "type": ["object"],
            "keys": ["fees", "losses", "requirement_collection", "stripe_dashboard"],
        },
    },
    "POST /v1/payment_intents": {
        "automatic_payment_methods": {"type": ["object"], "keys": ["allow_redirects", "enabled"]},
        "payment_method_configuration": {"type": ["string"]},
    },
    "POST /v1/subscriptions": {
        # https://docs.stripe.com/api/subscriptions/create#create_subscription-discounts
        "discounts": DISCOUNTS,
        "billing_mode": {"type": ["object"], "keys": ["type", "flexible"]},
        "invoice_settings": {"type": ["object"], "keys": ["account_tax_ids", "issuer"]},
    },
    "POST /v1/subscriptions/{subscription_exposed_id}": {
        "discounts": DISCOUNTS,
        "invoice_settings": {"type": ["object"], "keys": ["account_tax_ids", "issuer"]},
    },
    "POST /v1/account_links": {
        # https://docs.stripe.com/api/account_links/create#create_account_link-collection_options
        "collection_options": {"type": ["object"], "keys": ["fields", "future_requirements"]},
    },
    "POST /v1/invoiceitems": {
        # 2025-03-31.basil moved the price under pricing: https://docs.stripe.com/api/invoiceitems/create
        "pricing": {"type": ["object"], "keys": ["price"]},
    },
    "POST /v1/invoices/create_preview": {
        # 2025-03-31.basil replaced GET /v1/invoices/upcoming: https://docs.stripe.com/api/invoices/create_preview
        "customer": {"type": ["string"]},
        "subscription": {"type": ["string"]},
        "expand": {"type": ["array"]},
    },
    # Undocumented: what Stripe's hosted Checkout calls, and the Stripe CLI's checkout fixtures with it
    # (https://github.com/stripe/stripe-cli/blob/master/pkg/fixtures/triggers/checkout.session.completed.json).
    "GET /v1/payment_pages/{checkout_session}": {
        "expand": {"type": ["array"]},
    },
    "POST /v1/payment_pages/{checkout_session}/confirm": {
        "payment_method": {"type": ["string"], "required": True},
        "expected_amount": {"type": ["integer"]},
        "expected_payment_method_type": {"type": ["string"]},
        "expand": {"type": ["array"]},
    },
    "POST /v1/billing_portal/sessions": {
        "flow_data": {
            "type": ["object"],
            "keys": ["after_completion", "subscription_cancel", "subscription_update", "subscription_update_confirm", "type"],
        },
    },
}


def types_of(schema, out):
    """Collects the JSON types a schema (or its anyOf branches) admits; returns whether "" is one of them."""
    emptiable = False
    if "anyOf" in schema:
        for branch in schema["anyOf"]:
            if branch.get("enum") == [""]:
                emptiable = True
            else:
                emptiable |= types_of(branch, out)
        return emptiable
    out.append(schema)
    return emptiable


def describe(schema, required):
    branches = []
    emptiable = types_of(schema, branches)
    entry = {"type": sorted({b.get("type", "string") for b in branches})}
    if required:
        entry["required"] = True
    enums = [b.get("enum") for b in branches if b.get("type", "string") == "string"]
    if enums and all(enums) and len(enums) == len(branches):
        entry["enum"] = sorted({v for e in enums for v in e if v != ""})
    objects = [b for b in branches if b.get("type") == "object"]
    if objects and all("properties" in b and not b.get("additionalProperties") for b in objects):
        keys = sorted({k for b in objects for k in b["properties"]})
        if keys:
            entry["keys"] = keys
    arrays = [b for b in branches if b.get("type") == "array"]
    items = [a.get("items", {}) for a in arrays]
    if items and all(i.get("type") == "object" and "properties" in i for i in items):
        entry["item_keys"] = sorted({k for i in items for k in i["properties"]})
    if emptiable:
        entry["emptiable"] = True
    return entry


def endpoint_params(method, op):
    params = {}
    if method == "get":
        for p in op.get("parameters", []):
            if p["in"] == "query":
                params[p["name"]] = describe(p.get("schema", {}), p.get("required", False))
    else:
        form = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
        schema = form.get("schema", {})
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params[name] = describe(prop, name in required)
    return dict(sorted(params.items()))


def main():
    spec_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SPEC
    spec = json.load(gzip.open(spec_path))
    endpoints = {}
    for path, item in sorted(spec["paths"].items()):
        for method in ("get", "post", "delete"):
            if method in item:
                endpoints[f"{method.upper()} {path}"] = endpoint_params(method, item[method])
    lines = ["{", f'  "spec": {json.dumps(spec["info"]["version"])},', '  "endpoints": {']
    rows = [f"    {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in endpoints.items()]
    lines.append(",\n".join(rows))
    lines.append("  },")
    lines.append('  "newer_than_spec": {')
    rows = [f"    {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(NEWER_THAN_SPEC.items())]
    lines.append(",\n".join(rows))
    lines.append("  }")
    lines.append("}")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(endpoints)} endpoints, {len(NEWER_THAN_SPEC)} with newer parameters -> {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
