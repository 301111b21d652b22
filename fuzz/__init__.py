"""The fuzz harness of vposer's file readers (see ``fuzz/run.py`` and README "Safety")."""
