"""Campaign funnel (issue 12). Placeholder wired into the campaign page; being written."""


def detail_context(*, campagne, user, now=None):
    """What the campaign page shows of this part: a dict merged into its context."""
    return {}
