{application, covenant_processor,
 [{description, "Covenant reference event processor (Elixir, mochiweb, jiffy, p1_pgsql)"},
  {vsn, "0.1.0"},
  {modules, []},
  {registered, []},
  {applications, [kernel, stdlib, elixir, logger, crypto, public_key, ssl, inets,
                  stringprep, p1_pgsql, jiffy, mochiweb]},
  {mod, {'Elixir.CovenantProcessor.Application', []}}]}.
