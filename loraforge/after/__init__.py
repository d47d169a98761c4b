"""After training: what a user does with a finished run's folder.

``runs`` reads a run's folder (or one of its checkpoints) and rebuilds its
recipe; ``models`` loads its base model the way the run did and puts the
adapter on it; ``prompts`` renders a row as the run's formatter rendered
training samples; ``generation``, ``evaluation``, ``merge`` and ``report``
are the library under ``loraforge chat``/``generate``, ``eval``, ``merge``
and ``report``. Nothing here prints: the commands in ``loraforge.cli`` do.
"""
