"""CE audit sampling: a reproducible yearly sample per region whose verified CE records must be
evidenced; outcomes per record (upheld, or struck with a reason: its hours leave every total)."""
