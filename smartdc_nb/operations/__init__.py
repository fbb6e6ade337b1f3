"""Operations: what acts on many resources and follows the cloud until it is done.

:mod:`.waits` (waits that end), :mod:`.bulk` (bulk runs) with :mod:`.actions` and
:mod:`.outcomes`, :mod:`.results` (result tables). They use the resources and the rules
table; the views display what they return.
"""
