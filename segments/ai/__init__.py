"""AI segments: clusters of the audience with readable profiles, personas, lookalikes, and
the optional language model that names and narrates them.

- `features.build_features`: one row of facts per subscriber (read in chunks into numpy,
  `people`, `engagement`, `tag_columns`, by `columns.read_columns`);
- `clusters.find_clusters`: scaled and encoded, k chosen by replication
  (`stability.choose_k`), everyone assigned;
- `profiles.profile_clusters`: what sets each cluster apart from the whole audience;
- `generate.generate_ai_segments`: the service that replaces every AI segment;
- `lookalike.build_lookalike`, `personas`, `llm`, `chart.cluster_chart_png`.
"""
