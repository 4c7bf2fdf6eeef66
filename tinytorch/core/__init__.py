"""The modules' exported code, one file per module (written by `tito export`)."""
