defmodule CovenantProcessor.Jobs do
  @moduledoc "Accepting, running and reading processing jobs."
  alias CovenantProcessor.{Baml, Config, DB, HTTPClient, Log, Metrics}
  import DB, only: [lit: 1]

  @uuid ~r/\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\z/
  @url ~r/\Ahttps?:\/\/[^\s\/?#]+([\/?#]\S*)?\z/u
  @statuses ["queued", "running", "succeeded", "failed"]

  def uuid?(s), do: is_binary(s) and Regex.match?(@uuid, s)
  def statuses, do: @statuses

  def new_uuid do
    <<a::48, _::4, b::12, _::2, c::62>> = :crypto.strong_rand_bytes(16)
    hex = Base.encode16(<<a::48, 4::4, b::12, 2::2, c::62>>, case: :lower)
    <<p1::binary-8, p2::binary-4, p3::binary-4, p4::binary-4, p5::binary-12>> = hex
    Enum.join([p1, p2, p3, p4, p5], "-")
  end

  # -- request validation ----------------------------------------------------------

  @spec validate(term()) :: {:ok, map()} | {:error, binary()}
  def validate(body) when is_map(body) do
    event_id = Map.get(body, "event_id")
    url = Map.get(body, "url")
    html = Map.get(body, "html")

    cond do
      is_nil(event_id) -> {:error, "event_id is required"}
      not uuid?(event_id) -> {:error, "event_id must be a UUID string"}
      is_nil(url) and is_nil(html) -> {:error, "one of url or html is required"}
      not is_nil(url) and not is_nil(html) -> {:error, "give either url or html, not both"}
      not is_nil(url) and not valid_url?(url) -> {:error, "url must be an absolute http(s) URL of at most 2048 characters"}
      not is_nil(html) and not (is_binary(html) and html != "") -> {:error, "html must be a non-empty string"}
      true -> {:ok, %{event_id: String.downcase(event_id), url: url, html: html}}
    end
  end

  def validate(_), do: {:error, "request body must be a JSON object"}

  defp valid_url?(url), do: is_binary(url) and String.length(url) <= 2048 and Regex.match?(@url, url)

  # -- accept + run ----------------------------------------------------------------

  @spec accept(map(), binary()) :: {:ok, binary()} | {:error, binary()}
  def accept(%{event_id: event_id, url: url} = req, trace_id) do
    job_id = new_uuid()

    sql =
      "INSERT INTO jobs (id, event_id, source_url, status) VALUES (" <>
        Enum.join([lit(job_id), lit(event_id), lit(url), lit("queued")], ", ") <> ")"

    case DB.query(sql) do
      {:ok, _} ->
        Metrics.job("queued")
        Log.info("job queued", %{job_id: job_id, event_id: event_id, source: if(url, do: "url", else: "html")})

        {:ok, _pid} =
          Task.Supervisor.start_child(CovenantProcessor.JobSupervisor, fn ->
            Log.set_trace_id(trace_id)
            run(job_id, req, trace_id)
          end)

        {:ok, job_id}

      {:error, msg} ->
        Log.error("cannot store job", %{error: msg})
        {:error, msg}
    end
  end

  def run(job_id, %{event_id: event_id, url: url, html: html}, trace_id) do
    started = System.monotonic_time(:millisecond)
    set_status(job_id, "running", nil)
    Metrics.job("running")
    baml = Config.get(:baml_url)

    result =
      try do
        with {:ok, page} <- page(url, html, trace_id),
             {:ok, event} <- extract(baml, page, trace_id),
             {:ok, score} <- score(baml, event, trace_id),
             :ok <- store(job_id, event_id, url, event, score) do
          {:ok, event, score}
        end
      rescue
        e -> {:error, "internal error: " <> Exception.message(e)}
      catch
        kind, reason -> {:error, "internal error: " <> inspect({kind, reason}, limit: 8)}
      end

    elapsed = System.monotonic_time(:millisecond) - started

    case result do
      {:ok, event, score} ->
        Metrics.job("succeeded")

        Log.info("job succeeded", %{
          job_id: job_id,
          event_id: event_id,
          speakers: length(list(event["speakers"])),
          companies: length(list(event["companies"])),
          quality_score: score,
          duration_ms: elapsed
        })

      {:error, msg} ->
        msg = String.slice(msg, 0, 1000)
        set_status(job_id, "failed", msg)
        Metrics.job("failed")
        Log.warn("job failed", %{job_id: job_id, event_id: event_id, error: msg, duration_ms: elapsed})
    end
  end

  defp page(nil, html, _trace_id), do: {:ok, html}

  defp page(url, _html, trace_id) do
    host = URI.parse(url).host || ""
    allowed = Config.get(:fetch_allowed_hosts)

    if host in allowed do
      # No automatic redirects: a redirect could lead off the allowed hosts.
      case HTTPClient.request(:get, url, trace_id,
             timeout: 20_000,
             autoredirect: false,
             accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
           ) do
        {:ok, status, _h, body} when status in 200..299 -> {:ok, DB.utf8(body)}
        {:ok, status, _h, _} -> {:error, "fetching the url answered HTTP #{status}"}
        {:error, reason} -> {:error, "fetching the url failed: " <> reason}
      end
    else
      {:error, "fetching #{host} is not allowed (FETCH_ALLOWED_HOSTS: #{Enum.join(allowed, ",")})"}
    end
  end

  defp extract(nil, _page, _t), do: {:error, "BAML_URL is not set"}

  defp extract(baml, page, trace_id) do
    case Baml.call(baml, "ExtractEvent", %{"html" => page}, trace_id) do
      {:ok, 200, %{"title" => title} = event} when is_binary(title) and title != "" ->
        {:ok, event}

      {:ok, 200, _} ->
        {:error, "ExtractEvent answered 200 without a string title"}

      {:ok, status, body} ->
        {:error, "ExtractEvent answered HTTP #{status}" <> detail(body)}

      {:error, reason} ->
        {:error, "ExtractEvent call failed: " <> reason}
    end
  end

  defp score(baml, event, trace_id) do
    case Baml.call(baml, "ScoreEventQuality", %{"event" => event}, trace_id) do
      {:ok, 200, %{"score" => s}} when is_number(s) -> {:ok, s * 1.0}
      {:ok, 200, _} -> {:error, "ScoreEventQuality answered 200 without a numeric score"}
      {:ok, status, body} -> {:error, "ScoreEventQuality answered HTTP #{status}" <> detail(body)}
      {:error, reason} -> {:error, "ScoreEventQuality call failed: " <> reason}
    end
  end

  defp detail(%{"detail" => d}) when is_binary(d), do: ": " <> d
  defp detail(%{"title" => t}) when is_binary(t), do: ": " <> t
  defp detail(_), do: ""

  defp store(job_id, event_id, url, event, score) do
    e = lit(event_id)

    speakers =
      for s <- list(event["speakers"]), is_map(s), is_binary(s["name"]), s["name"] != "" do
        "(" <> Enum.join([e, lit(s["name"]), lit(str(s["title"])), lit(str(s["company"]))], ", ") <> ")"
      end

    companies =
      for c <- list(event["companies"]),
          name = company_name(c),
          is_binary(name) and name != "" do
        "(" <> e <> ", " <> lit(name) <> ")"
      end

    statements =
      [
        "INSERT INTO events (id, title, starts_at, city, source_url, quality_score) VALUES (" <>
          Enum.join([e, lit(event["title"]), lit(timestamp(event["starts_at"])), lit(str(event["city"])), lit(url), lit(score)], ", ") <>
          ") ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, starts_at = EXCLUDED.starts_at, " <>
          "city = EXCLUDED.city, source_url = EXCLUDED.source_url, quality_score = EXCLUDED.quality_score",
        "DELETE FROM speakers WHERE event_id = " <> e,
        "DELETE FROM companies WHERE event_id = " <> e
      ] ++
        if(speakers == [], do: [], else: ["INSERT INTO speakers (event_id, name, title, company) VALUES " <> Enum.join(speakers, ", ")]) ++
        if(companies == [], do: [], else: ["INSERT INTO companies (event_id, name) VALUES " <> Enum.join(companies, ", ")]) ++
        ["UPDATE jobs SET status = 'succeeded', error = NULL, updated_at = now() WHERE id = " <> lit(job_id)]

    case DB.transaction(statements) do
      {:ok, _} -> :ok
      {:error, msg} -> {:error, "storing the event failed: " <> msg}
    end
  end

  defp company_name(c) when is_binary(c), do: c
  defp company_name(%{"name" => n}) when is_binary(n), do: n
  defp company_name(_), do: nil

  defp list(l) when is_list(l), do: l
  defp list(_), do: []

  defp str(s) when is_binary(s) and s != "", do: s
  defp str(_), do: nil

  # Only well-formed ISO 8601 / RFC 3339 values go to timestamptz; anything else is stored as NULL.
  defp timestamp(s) when is_binary(s) do
    with {:error, _} <- DateTime.from_iso8601(s),
         {:error, _} <- NaiveDateTime.from_iso8601(s),
         {:error, _} <- Date.from_iso8601(s) do
      nil
    else
      {:ok, %DateTime{} = dt, _} -> DateTime.to_iso8601(dt)
      {:ok, %NaiveDateTime{} = n} -> NaiveDateTime.to_iso8601(n) <> "Z"
      {:ok, %Date{} = d} -> Date.to_iso8601(d) <> "T00:00:00Z"
    end
  end

  defp timestamp(_), do: nil

  defp set_status(job_id, status, error) do
    DB.query(
      "UPDATE jobs SET status = " <> lit(status) <> ", error = " <> lit(error) <>
        ", updated_at = now() WHERE id = " <> lit(job_id)
    )
  end

  # -- reading -----------------------------------------------------------------------

  @spec get(binary()) :: {:ok, map()} | :not_found | {:error, binary()}
  def get(job_id) do
    case DB.rows("SELECT id::text, event_id::text, status, error FROM jobs WHERE id = " <> lit(String.downcase(job_id))) do
      {:ok, [[id, event_id, status, error] | _]} ->
        {:ok, %{job_id: id, event_id: event_id, status: status, error: nullable(error)}}

      {:ok, []} ->
        :not_found

      {:error, msg} ->
        {:error, msg}
    end
  end

  defp nullable(:null), do: nil
  defp nullable(v), do: v

  # -- provider-state helpers ------------------------------------------------------

  def put(job_id, event_id, status, error) do
    DB.query(
      "INSERT INTO jobs (id, event_id, source_url, status, error) VALUES (" <>
        Enum.join([lit(job_id), lit(event_id), "NULL", lit(status), lit(error)], ", ") <>
        ") ON CONFLICT (id) DO UPDATE SET event_id = EXCLUDED.event_id, status = EXCLUDED.status, " <>
        "error = EXCLUDED.error, updated_at = now()"
    )
  end

  def delete(job_id), do: DB.query("DELETE FROM jobs WHERE id = " <> lit(job_id))
end
