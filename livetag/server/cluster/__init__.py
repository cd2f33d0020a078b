"""Several machines as one cluster, on Redis (``Runner(App, redis_url=...)``);
``docs/cluster.md`` says what works today and what comes next.

- ``config``     ``ClusterConfig``: arguments and ``LIVETAG_*`` environment, validated;
                 imports nothing of redis-py (the Runner reads it without the extra)
- ``client``     connections, key names, redis-py's errors as livetag's
- ``scripts``    the Lua scripts: every change of ownership or snapshot is one of them
- ``store``      ``RedisStore``: the ``SessionStore`` (snapshots fenced by epochs)
- ``directory``  ``Directory``: machine leases, session owners, claims, ``holds``/``owns``
- ``broker``     ``RedisBroker``: the ``Broker`` of ``livetag.pubsub`` across machines
- ``member``     ``ClusterMember``: the three of them for one machine
- ``ownership``  ``Ownership``: the supervisor's "who owns session K" and "claim K here"
                 (the seam between web workers, the relay and the directory)
- ``fence``      a session process's side: saves under the supervisor's claim
                 (``ClaimedStore``), no update once the claim is lost (``SessionFence``)
- ``relay``      ``RelayServer`` (in the supervisor) and ``open_remote_session`` (in web
                 workers): a session's socket reached from another machine, authenticated
                 by the cluster secret

Everything but ``config`` and ``relay`` needs the ``cluster`` extra (``pip install
'livetag[cluster]'``).
"""
