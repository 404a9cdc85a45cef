"""Inventories the inventory tests share."""

BASE = """\
all:
  vars:
    rollup_user: HOSTING\\svc-rollup
    rollup_password: {env: ROLLUP_PASSWORD}
  children:
    deployment_tool:
      hosts:
        MPS01: {address: 192.0.2.11}
    mps_engine:
      hosts:
        MPS01:
        MPS02: {ansible_host: 192.0.2.12}
    dns:
      hosts:
        DNS01: {address: 192.0.2.21}
    collab:
      vars: {port: 5986, scheme: https}
      hosts:
        COLLAB01: {address: 192.0.2.31}
"""
"""A valid inventory of every kind of host, which the tests edit into the cases they need."""
