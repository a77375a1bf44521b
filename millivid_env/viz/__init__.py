"""Pictures people look at: contact sheets and videos."""
from millivid_env.viz.images import contact_sheet, label, write_png
from millivid_env.viz.video import write_video

__all__ = ["contact_sheet", "label", "write_png", "write_video"]
