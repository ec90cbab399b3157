"""Your own workers, one module each (the answer `custom_workers`). scripts/scaffold_workers.py creates a worker's
module, migration and test once, when the plan first lists it; `copier update` and `betagen update` never
overwrite them. Its route, schedule and limits follow the answers (app/plan.json)."""
