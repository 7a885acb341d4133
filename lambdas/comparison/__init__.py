"""The approver's evidence: a newly registered version against the approved one."""
