"""The landing-zone contract: the one thing the platform and the simulator share.

``layout`` says where a day's files live and how they are written; ``schemas`` gives every entity's
Arrow schema; ``vocabulary`` holds the value lists the source systems use.
"""
