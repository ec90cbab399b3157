"""Deploy, verify and roll back the stack (behind deploy.sh, verify.sh and rollback.sh).

CloudFormation owns the infrastructure (change sets, its own rollback); this package owns what
CloudFormation does not do well: the database snapshot and migrations, blue/green Lambda releases through
the `live` alias, the QStash schedules, and checking that what runs matches the plan.
"""
