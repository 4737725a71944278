def test_create_and_get(alice):
    task = alice.create_task(title="Write tests")
    response = alice.get(task["url"])
    assert response.status_code == 200
    assert response.json["title"] == "Write tests"
