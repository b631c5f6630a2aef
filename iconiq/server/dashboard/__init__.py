"""The dashboard's Jinja2 templates and static assets (Chart.js 4.6.1, MIT, vendored from
the npm registry: ``static/chart.umd.js`` with ``static/chart.js.LICENSE.txt``)."""
