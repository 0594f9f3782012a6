"""The page's words for each kind of study (:func:`replication.study.kind.study_kind`).

A replication checks what a source reports; an exploratory study of one's own survey has
no source, so its page is a segmentation report: no "reported", "replication" or "source"
wording, and no sections about a source. A paper's claims tested on one's own survey
(``init --like``) keep the replication's words, under their own heading.
"""

#: The page's heading (and the HTML title's start).
HEADINGS = {"replication": "Replication report", "explore": "Segmentation report",
            "like": "A paper's claims tested on your survey"}
#: Part titles that differ from page.PARTS.
PART_TITLES = {"replication": {}, "like": {},
               "explore": {"findings": "What the survey shows", "trust": "How far to trust it",
                           "beyond": "Beyond the method", "about": "Words and provenance"}}
#: Sections not shown (there is nothing for them to say).
HIDDEN = {"replication": set(), "like": set(), "explore": {"reported", "controls", "replicability", "glossary"}}
