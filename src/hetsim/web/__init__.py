"""The local dashboard (``hetsim dashboard``) and the self-contained HTML report
(``hetsim report``). Optional extra ``hetsim[web]``: only these modules import plotly.

Layout: :mod:`view` holds the records a page renders (cards, tables, figures); :mod:`pages`
builds them from the core API, one module per page, registered by name; :mod:`server` serves
them over HTTP on 127.0.0.1; :mod:`shell` writes the one HTML shell that both the dashboard
and the static report use; ``static/dashboard.js`` renders a view in the browser.
"""
