defmodule CovenantProcessor.ProviderStates do
  @moduledoc """
  Pact provider states (mounted only with PACT_PROVIDER_STATES=true):
    * "a job with id {id} exists"   params: id, event_id, optional status (default "queued")
    * "no job with id {id} exists"  params: id
    * "the extractor is available"  nothing to set up
  The id may be given in params or literally in the state name.
  """
  alias CovenantProcessor.Jobs

  @spec handle(term()) :: {:ok, map()} | {:error, 400 | 503, binary()}
  def handle(%{"state" => state} = body) when is_binary(state) do
    params =
      case Map.get(body, "params") do
        nil -> %{}
        p when is_map(p) -> p
        _ -> :invalid
      end

    action = Map.get(body, "action") || "setup"

    cond do
      params == :invalid -> {:error, 400, "params must be a JSON object"}
      action not in ["setup", "teardown"] -> {:error, 400, "action must be \"setup\" or \"teardown\""}
      true -> dispatch(String.trim(state), params, action)
    end
  end

  def handle(%{} = _), do: {:error, 400, "state is required (a string)"}
  def handle(_), do: {:error, 400, "request body must be a JSON object"}

  defp dispatch("the extractor is available", _params, _action), do: {:ok, %{}}

  defp dispatch(state, params, action) do
    cond do
      m = Regex.run(~r/\Aa job with id (\S+) exists\z/, state) -> job_exists(id(m, params), params, action)
      m = Regex.run(~r/\Ano job with id (\S+) exists\z/, state) -> no_job(id(m, params), action)
      true -> {:error, 400, "unknown provider state: " <> String.slice(state, 0, 200)}
    end
  end

  defp id([_, from_name], params) do
    case Map.get(params, "id") do
      nil -> if String.starts_with?(from_name, "{"), do: nil, else: from_name
      v -> v
    end
  end

  defp job_exists(id, params, action) do
    event_id = Map.get(params, "event_id") || Jobs.new_uuid()
    status = Map.get(params, "status") || "queued"
    error = Map.get(params, "error") || if(status == "failed", do: "provider state: job failed", else: nil)

    cond do
      not Jobs.uuid?(id) -> {:error, 400, "params.id must be a UUID"}
      not Jobs.uuid?(event_id) -> {:error, 400, "params.event_id must be a UUID"}
      status not in Jobs.statuses() -> {:error, 400, "params.status must be one of " <> Enum.join(Jobs.statuses(), ", ")}
      not (is_nil(error) or is_binary(error)) -> {:error, 400, "params.error must be a string"}
      action == "teardown" -> db(Jobs.delete(String.downcase(id)), %{})
      true ->
        id = String.downcase(id)
        event_id = String.downcase(event_id)
        db(Jobs.put(id, event_id, status, error), %{"id" => id, "job_id" => id, "event_id" => event_id, "status" => status})
    end
  end

  defp no_job(id, action) do
    cond do
      not Jobs.uuid?(id) -> {:error, 400, "params.id must be a UUID"}
      action == "teardown" -> {:ok, %{}}
      true -> db(Jobs.delete(String.downcase(id)), %{"id" => String.downcase(id)})
    end
  end

  defp db({:ok, _}, value), do: {:ok, value}
  defp db({:error, msg}, _), do: {:error, 503, "database unavailable: " <> msg}
end
