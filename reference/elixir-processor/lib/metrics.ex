defmodule CovenantProcessor.Metrics do
  @moduledoc "Counters and a histogram in ETS, exposed in the Prometheus text format (0.0.4)."

  @table :covenant_processor_metrics
  @buckets [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
  @job_statuses ["queued", "running", "succeeded", "failed"]

  def init do
    if :ets.whereis(@table) == :undefined do
      :ets.new(@table, [:named_table, :public, :set, write_concurrency: true, read_concurrency: true])
    end

    Enum.each(@job_statuses, fn s -> :ets.insert_new(@table, {{:job, s}, 0}) end)
    :ok
  end

  def observe_request(method, route, status, seconds) do
    inc({:req, method, route, status}, 1)
    micros = round(seconds * 1_000_000)
    inc({:hist_sum, method, route}, micros)
    inc({:hist_count, method, route}, 1)

    Enum.each(Enum.with_index(@buckets), fn {le, i} ->
      if seconds <= le, do: inc({:hist, method, route, i}, 1)
    end)
  end

  def job(status), do: inc({:job, status}, 1)

  defp inc(key, by) do
    :ets.update_counter(@table, key, by, {key, 0})
  rescue
    _ -> :ok
  end

  def render do
    rows = :ets.tab2list(@table)

    reqs =
      for {{:req, m, r, s}, v} <- rows, do: {[{"method", m}, {"route", r}, {"status", Integer.to_string(s)}], v}

    hists = for {{:hist_count, m, r}, c} <- rows, do: {m, r, c}
    lookup = Map.new(rows)

    hist_lines =
      hists
      |> Enum.sort()
      |> Enum.flat_map(fn {m, r, count} ->
        labels = [{"method", m}, {"route", r}]

        buckets =
          @buckets
          |> Enum.with_index()
          |> Enum.map(fn {le, i} ->
            v = Map.get(lookup, {:hist, m, r, i}, 0)
            ["http_request_duration_seconds_bucket", labels(labels ++ [{"le", fmt(le)}]), " ", Integer.to_string(v), "\n"]
          end)

        sum = Map.get(lookup, {:hist_sum, m, r}, 0) / 1_000_000

        buckets ++
          [
            ["http_request_duration_seconds_bucket", labels(labels ++ [{"le", "+Inf"}]), " ", Integer.to_string(count), "\n"],
            ["http_request_duration_seconds_sum", labels(labels), " ", fmt(sum), "\n"],
            ["http_request_duration_seconds_count", labels(labels), " ", Integer.to_string(count), "\n"]
          ]
      end)

    jobs = for {{:job, s}, v} <- rows, do: {[{"status", s}], v}

    IO.iodata_to_binary([
      "# HELP http_requests_total HTTP requests handled, by method, route template and status.\n",
      "# TYPE http_requests_total counter\n",
      Enum.map(Enum.sort(reqs), fn {l, v} -> ["http_requests_total", labels(l), " ", Integer.to_string(v), "\n"] end),
      "# HELP http_request_duration_seconds HTTP request duration in seconds.\n",
      "# TYPE http_request_duration_seconds histogram\n",
      hist_lines,
      "# HELP processor_jobs_total Processing jobs by the status they reached.\n",
      "# TYPE processor_jobs_total counter\n",
      Enum.map(Enum.sort(jobs), fn {l, v} -> ["processor_jobs_total", labels(l), " ", Integer.to_string(v), "\n"] end)
    ])
  end

  defp labels([]), do: ""

  defp labels(pairs) do
    ["{", Enum.map_join(pairs, ",", fn {k, v} -> k <> "=\"" <> escape(v) <> "\"" end), "}"]
  end

  defp escape(v) do
    v |> to_string() |> String.replace("\\", "\\\\") |> String.replace("\"", "\\\"") |> String.replace("\n", "\\n")
  end

  defp fmt(f) when is_float(f), do: :erlang.float_to_binary(f, [:short])
  defp fmt(i) when is_integer(i), do: Integer.to_string(i)
end
