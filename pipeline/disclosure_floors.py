"""Floors of statistical disclosure control: the policy may raise these, never lower them.

Why these numbers (documented for data stewards in README.md, "Disclosure control"):

- SUPPRESSION_THRESHOLD = 7: counts of 1..7 are never published. NHS England's small-number
  rules for HES and OpenSAFELY's output checking both suppress 1..7.
- ROUNDING_BASE = 5: every other count is rounded to the nearest 5 (OpenSAFELY practice), so a
  published count hides the exact value within +-2.
- MINIMUM_GROUP_SIZE = 10: a group, and every mean, median, percentile or rate, must rest on at
  least 10 distinct people. Ten is the most common k in health-data release practice (the
  range 5-11 in El Emam's de-identification guidance; 11 in CMS cell-size rules); below it a
  mean with rounding moves by more than the rounding hides. It must also exceed the
  suppression threshold, so that a published group's size is itself a publishable count.
- ALL_OR_NONE_MIN_DENOMINATOR = 20: a count of 0 or one equal to its denominator (a rate of 0%
  or 100%) tells every member of the group their own value ("none of them deteriorated").
  It is published only when the denominator rests on at least 20 people, where that is a
  statement about a group rather than about each person one can name in it.
"""

from __future__ import annotations

SUPPRESSION_THRESHOLD = 7
ROUNDING_BASE = 5
MINIMUM_GROUP_SIZE = 10
ALL_OR_NONE_MIN_DENOMINATOR = 20
