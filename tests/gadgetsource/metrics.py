"""The gadget families."""

from __future__ import annotations

from exporter.metrics import metric_spec

WATTS = metric_spec("codearts_gadget_watts", "gauge", "Power a gadget draws.", ("shelf", "gadget"), "gadget")
JOB_SPECS = (WATTS,)
