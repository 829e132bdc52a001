"""The hub's services: streams that learn by themselves, as supervised jobs.

- :mod:`.config`: what a stream runs (:class:`~.config.StreamConfig`);
- :mod:`.sources`: where its events come from, checked where a config enters and again where
  its worker opens them;
- :mod:`.job`: the job kind ``stream`` (start, find, run, resume);
- :mod:`.loop`: its loop in the job's process (pace, triggers, candidates, checkpoints);
- :mod:`.retrain` and :mod:`.tuning`: candidates trained as retrain runs, or tuned;
- :mod:`.registry`: its promotions as registry versions; :mod:`.serving`: its champion's
  predictions; :mod:`.explain`: what its learners look at;
- :mod:`.readings`: its pace, its window's trading figures, its saved learners;
- :mod:`.alerts`: rules on what it does, posted to webhooks.
"""
