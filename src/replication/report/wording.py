"""The page's words for each kind of study (:func:`replication.study.kind.study_kind`).

A replication checks what a source reports; an exploratory study of one's own survey has
no source, so its page is a segmentation report: no "reported", "replication" or "source"
wording, and no sections about a source. A paper's claims tested on one's own survey
(``init --like``) keep the replication's words, under their own heading.
"""

#: The page's heading (and the HTML title's start).
HEADINGS = {"replication": "Replication report", "explore": "Segmentation report",
            "like": "The claims of a paper tested on your survey"}
#: Part titles that differ from page.PARTS.
PART_TITLES = {"replication": {}, "like": {},
               "explore": {"findings": "What the survey shows", "trust": "How far to trust it",
                           "beyond": "Beyond the method", "about": "Words and provenance"}}
#: Section headings that differ from page.PARTS.
SECTION_TITLES = {"replication": {}, "like": {},
                  "explore": {"methods": "Other segmentation methods: TwoStep and latent profiles"}}
#: Sections not shown (there is nothing for them to say).
HIDDEN = {"replication": set(), "like": set(), "explore": {"reported", "controls", "replicability", "glossary"}}


def parts_for(kind: str, parts: list) -> list:
    """The page's ``(part id, title, [(anchor, heading), ...])`` in the words of ``kind``."""
    return [(pid, PART_TITLES[kind].get(pid, title),
             [(a, SECTION_TITLES[kind].get(a, h)) for a, h in secs if a not in HIDDEN[kind]])
            for pid, title, secs in parts]


#: How the k in use came about (the k figure's words).
K_WORD = {"replication": "reported", "like": "reported", "explore": "chosen"}
#: Column headers that differ for an exploratory study (a table's column names stay).
EXPLORE_HEADERS = {
    "replicated_pct": "share (%)", "agrees_with_reported_k": "agrees with the chosen k",
    "reported_profile": "named profile", "assigned_profile": "profile it is named by",
    "k_reported": "k used", "ari_vs_paper_at_reported_k": "ARI with Ward + k-means at the k used",
    "ari_vs_paper_at_chosen_k": "ARI with Ward + k-means at its own k",
    "ari_vs_truth_at_reported_k": "ARI with a known truth at the k used",
}
