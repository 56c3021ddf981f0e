"""The Alephbet snippet for a deployment: a script tag and a ``LamedAdapter``
pointed at the track URL and namespace."""

from __future__ import annotations

import json
from typing import Sequence

from lamed.web.tracking import TRACK_PATH

DEFAULT_SCRIPT_SRC = "/js/alephbet.min.js"


def track_url(endpoint: str, track_paths: Sequence[str] = ()) -> str:
    """The first extra track path when there is one: ad-blockers know /track."""
    return endpoint.rstrip("/") + (track_paths[0] if track_paths else TRACK_PATH)


def _js_string(value: str) -> str:
    # JSON is a valid JS string literal; "<\/" keeps it from closing the script tag.
    return json.dumps(value).replace("</", "<\\/")


def alephbet_snippet(url: str, namespace: str, script_src: str = DEFAULT_SCRIPT_SRC) -> str:
    return f"""<!-- Alephbet: serve node_modules/alephbet/dist/alephbet.min.js (npm install alephbet) from your site -->
<script src="{_html_attribute(script_src)}"></script>
<script>
  var tracking = new AlephBet.LamedAdapter({_js_string(url)}, {_js_string(namespace)});
  var experiment = new AlephBet.Experiment({{
    name: "my experiment",
    tracking_adapter: tracking,
    variants: {{
      A: {{activate: function () {{}}}},
      B: {{activate: function () {{}}}}
    }}
  }});
  var goal = new AlephBet.Goal("clicked");
  experiment.add_goal(goal); // call goal.complete() when the user reaches the goal
</script>"""


def _html_attribute(value: str) -> str:
    import html

    return html.escape(value, quote=True)
