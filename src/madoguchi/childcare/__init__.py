"""Childcare admission (保育所等の利用申込): points, rule sets, allocation rounds and their results.

Layers (docs/decisions/0016-layers.md): above applications and registry (it reads applications, the register and
facilities, and moves applications through their workflow), below documents (which print its results).
"""
