"""Payment provider adapters behind one interface (``base.PaymentProvider``): ``fake`` (the demo and most tests,
with a hosted-page simulator) and ``stripe`` (cards, konbini and PayPay in Japan; contract-tested against
localstripe). ``provider_for`` picks the tenant's."""
