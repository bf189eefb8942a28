"""手数料 and payments: quotes, payment intents, provider adapters, webhooks in, refunds and reconciliation.

The layer sits beside ``childcare`` (between ``documents`` and ``applications``): it reads applications and their
settings, registers the workflow's ``quote_fee`` action and ``fee_settled`` guard through ``applications.hooks``,
and is read by the surfaces (portal, console, API) and by ``documents`` (the 領収書). Madoguchi never sees a card
number: a resident pays on the provider's hosted page. Decisions 0043 (quotes), 0044 (intents and providers),
0045 (webhooks), 0046 (refunds and reconciliation); the spec is in the shared specs (payments).
"""
